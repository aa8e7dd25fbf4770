using System.Text;
using LayerStats.Tests.EndToEnd;
using static LayerStats.Tests.RegistryE2E.RegistryScanHelpers;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// A registry with htpasswd Basic auth, scanned by the CLI as a child process (it reads the real environment): credentials
/// from a Docker config.json (DOCKER_CONFIG), from --username/--password-stdin, and wrong ones. The password appears nowhere:
/// not in stdout, stderr, any text column of the database, or its bytes.
/// </summary>
public sealed class RegistryBasicAuthTests(BasicAuthRegistryFixture fixture) : IClassFixture<BasicAuthRegistryFixture>
{
    private const string User = BasicAuthRegistryFixture.Username;
    private const string Password = BasicAuthRegistryFixture.Password;

    [Fact]
    public void Credentials_from_a_docker_config_open_the_registry()
    {
        using var home = new TempDir();
        using var cli = new CliHarness();
        string auth = WriteDockerConfig(Path.Combine(home.Path, ".docker"), fixture.Registry.Host, User, Password);
        var (exit, stdout, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, fixture.Direct("web:1.0"), fixture.Direct("base:1.0")]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");

        AssertSameFigures(fixture.Disk, cli);
        Assert.Equal([($"{fixture.Registry.Host}/web", "1.0")], Refs(cli, RegistryFixture.Web));
        AssertNowhere(cli, stdout, stderr, Password, auth);
    }

    [Fact]
    public void Without_credentials_the_scan_fails_with_a_clear_error()
    {
        using var home = new TempDir();
        using var cli = new CliHarness();
        var (exit, stdout, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, fixture.Direct("web:1.0")]);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        AssertAuthError(stderr);
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        AssertNowhere(cli, stdout, stderr, Password);
    }

    [Fact]
    public void Wrong_credentials_are_a_clear_error_exit_1_and_the_password_is_nowhere()
    {
        const string wrong = "Wr0ng-Pw-91d2c7aa";
        using var home = new TempDir();
        using var cli = new CliHarness();
        string auth = WriteDockerConfig(Path.Combine(home.Path, ".docker"), fixture.Registry.Host, User, wrong);
        var (exit, stdout, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, fixture.Direct("web:1.0"), fixture.Direct("base:1.0")]);
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        AssertAuthError(stderr);
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        Assert.True(cli.Scalar("SELECT count(*) FROM scan_errors") >= 1);
        AssertNowhere(cli, stdout, stderr, wrong, auth, Password);
    }

    [Fact]
    public void Username_and_password_from_stdin_open_the_registry()
    {
        using var home = new TempDir();
        using var cli = new CliHarness();
        var (exit, stdout, stderr) = RunChild(
            home.Path,
            ["scan", "--db", cli.Database, "--username", User, "--password-stdin", fixture.Direct("web:1.0"), fixture.Direct("base:1.0")],
            stdin: Password + "\n");
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, cli);
        AssertNowhere(cli, stdout, stderr, Password, Convert.ToBase64String(Encoding.UTF8.GetBytes($"{User}:{Password}")));
    }

    private void AssertAuthError(string stderr)
    {
        Assert.Contains(fixture.Registry.Host, stderr, StringComparison.Ordinal);
        string lower = stderr.ToLowerInvariant();
        Assert.True(
            lower.Contains("401", StringComparison.Ordinal) || lower.Contains("unauthori", StringComparison.Ordinal) ||
            lower.Contains("authentication", StringComparison.Ordinal) || lower.Contains("credentials", StringComparison.Ordinal),
            "the error does not say that authentication failed: " + stderr);
    }
}

/// <summary>
/// A registry with bearer-token auth against the test's <see cref="TokenServer"/>: the scan gets tokens with the
/// credentials, reuses each token for its scope (counted against the registry requests seen by the proxy), and stores
/// and prints neither the password nor a token.
/// </summary>
public sealed class RegistryTokenAuthTests(TokenAuthRegistryFixture fixture) : IClassFixture<TokenAuthRegistryFixture>
{
    private const string User = TokenAuthRegistryFixture.Username;
    private const string Password = TokenAuthRegistryFixture.Password;

    [Fact]
    public void The_bearer_token_flow_works_tokens_are_reused_and_nothing_secret_is_stored()
    {
        fixture.Tokens.ResetCounters();
        fixture.Proxy.Reset();
        using var home = new TempDir();
        using var cli = new CliHarness();
        // Through the proxy (to count registry requests); the credentials are for the proxy's host name.
        string auth = WriteDockerConfig(Path.Combine(home.Path, ".docker"), fixture.Proxy.Host, User, Password);
        var (exit, stdout, stderr) = RunChild(home.Path, ["scan", "--db", cli.Database, fixture.Proxied("web:1.0"), fixture.Proxied("base:1.0")]);
        Assert.True(exit == 0, $"exit {exit}: {stderr}");
        AssertSameFigures(fixture.Disk, cli);

        var tokenRequests = fixture.Tokens.Requests;
        Assert.All(tokenRequests, r => Assert.True(r.Authenticated, "a token request without (the right) credentials"));
        Assert.Contains(tokenRequests, r => r.Scopes.Contains("repository:web:pull"));
        Assert.Contains(tokenRequests, r => r.Scopes.Contains("repository:base:pull"));
        // Each scope asked for once: the token is cached and reused for the manifests and blobs of its repository.
        var perScope = tokenRequests.GroupBy(r => string.Join(' ', r.Scopes.Order(StringComparer.Ordinal))).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(perScope, kv => Assert.True(kv.Value == 1, $"scope '{kv.Key}' asked {kv.Value} times"));
        int authorized = fixture.Proxy.Requests.Count(r => r.HadAuthorization && r.Status is >= 200 and < 300);
        // At least 2 manifests, 2 configs and the 5 distinct layer blobs went out with a token.
        Assert.True(authorized >= 9, $"only {authorized} authorized registry requests");
        Assert.True(tokenRequests.Count <= 3, $"{tokenRequests.Count} token requests for {authorized} registry requests");

        AssertNowhere(cli, stdout, stderr, [Password, auth, .. fixture.Tokens.IssuedTokens.Select(t => t[^40..])]);
    }

    [Fact]
    public void Wrong_credentials_for_the_token_endpoint_are_a_clear_error()
    {
        const string wrong = "Wr0ng-T0ken-Pw-5e7f";
        using var home = new TempDir();
        using var cli = new CliHarness();
        var (exit, stdout, stderr) = RunChild(
            home.Path,
            ["scan", "--db", cli.Database, "--username", User, "--password-stdin", fixture.Direct("web:1.0")],
            stdin: wrong + "\n");
        Assert.True(exit == 1, $"exit {exit}: {stderr}");
        Assert.Contains(fixture.Registry.Host, stderr, StringComparison.Ordinal);
        Assert.Equal(0L, cli.Scalar("SELECT count(*) FROM images"));
        AssertNowhere(cli, stdout, stderr, wrong, Password);
    }
}
