using LayerStats.Core.Model;
using LayerStats.Core.Registry;

namespace LayerStats.Tests.Registry;

public sealed class RegistryReferenceTests
{
    private const string D = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    // Docker Hub short names: library/ prefix, :latest by default
    [InlineData("docker://alpine", "registry-1.docker.io", "library/alpine", "latest", null, RegistryReferenceKind.Tag, "docker.io/library/alpine:latest")]
    [InlineData("docker://alpine:3.19", "registry-1.docker.io", "library/alpine", "3.19", null, RegistryReferenceKind.Tag, "docker.io/library/alpine:3.19")]
    [InlineData("docker://team/app", "registry-1.docker.io", "team/app", "latest", null, RegistryReferenceKind.Tag, "docker.io/team/app:latest")]
    [InlineData("docker://alpine@" + D, "registry-1.docker.io", "library/alpine", null, D, RegistryReferenceKind.Digest, "docker.io/library/alpine@" + D)]
    [InlineData("docker://myhost:5000", "registry-1.docker.io", "library/myhost", "5000", null, RegistryReferenceKind.Tag, "docker.io/library/myhost:5000")]
    // Docker Hub written out: repository semantics (every tag)
    [InlineData("docker://docker.io/library/alpine", "registry-1.docker.io", "library/alpine", null, null, RegistryReferenceKind.Repository, "docker.io/library/alpine")]
    [InlineData("docker://index.docker.io/alpine:3", "registry-1.docker.io", "library/alpine", "3", null, RegistryReferenceKind.Tag, "docker.io/library/alpine:3")]
    // Registries written out
    [InlineData("docker://registry.example.com/team/app:1.4", "registry.example.com", "team/app", "1.4", null, RegistryReferenceKind.Tag, "registry.example.com/team/app:1.4")]
    [InlineData("docker://registry.example.com/team/app", "registry.example.com", "team/app", null, null, RegistryReferenceKind.Repository, "registry.example.com/team/app")]
    [InlineData("docker://Registry.Example.com/app", "registry.example.com", "app", null, null, RegistryReferenceKind.Repository, "registry.example.com/app")]
    [InlineData("docker://registry.example.com", "registry.example.com", null, null, null, RegistryReferenceKind.Catalog, "registry.example.com")]
    [InlineData("docker://localhost:5000/app@" + D, "localhost:5000", "app", null, D, RegistryReferenceKind.Digest, "localhost:5000/app@" + D)]
    [InlineData("docker://localhost/app:x", "localhost", "app", "x", null, RegistryReferenceKind.Tag, "localhost/app:x")]
    [InlineData("docker://localhost", "localhost", null, null, null, RegistryReferenceKind.Catalog, "localhost")]
    [InlineData("docker://localhost:5000", "localhost:5000", null, null, null, RegistryReferenceKind.Catalog, "localhost:5000")]
    [InlineData("docker://10.0.0.5:5000", "10.0.0.5:5000", null, null, null, RegistryReferenceKind.Catalog, "10.0.0.5:5000")]
    [InlineData("docker://myhost:5000/", "myhost:5000", null, null, null, RegistryReferenceKind.Catalog, "myhost:5000")]
    [InlineData("docker://myhost:5000/a/b/c:t", "myhost:5000", "a/b/c", "t", null, RegistryReferenceKind.Tag, "myhost:5000/a/b/c:t")]
    [InlineData("docker://[::1]:5000/app:1", "[::1]:5000", "app", "1", null, RegistryReferenceKind.Tag, "[::1]:5000/app:1")]
    [InlineData("docker://127.0.0.1:5000/my_app.v2-x/sub__y:v1", "127.0.0.1:5000", "my_app.v2-x/sub__y", "v1", null, RegistryReferenceKind.Tag, "127.0.0.1:5000/my_app.v2-x/sub__y:v1")]
    public void Parses_as_docker_does(string input, string host, string? repository, string? tag, string? digest, RegistryReferenceKind kind, string display)
    {
        var r = RegistryReference.Parse(input);

        Assert.Equal(input, r.Input);
        Assert.Equal(host, r.Host);
        Assert.Equal(repository, r.Repository);
        Assert.Equal(tag, r.Tag);
        Assert.Equal(digest, r.Digest?.ToString());
        Assert.Equal(kind, r.Kind);
        Assert.Equal(display, r.ToString());
    }

    [Theory]
    [InlineData("docker://", "names no registry")]
    [InlineData("docker://registry.example.com/Team/App", "not a valid repository name")]
    [InlineData("docker://registry.example.com/app:bad tag", "not a valid tag")]
    [InlineData("docker://registry.example.com/app@sha256:1234", "not a digest")]
    [InlineData("docker://registry.example.com/app:1@" + D, "both a tag and a digest")]
    [InlineData("docker://host:99999/app", "not a valid registry host")]
    [InlineData("docker://host_name.example.com/app", "not a valid registry host")]
    [InlineData("docker://registry.example.com/a//b", "not a valid repository name")]
    [InlineData("oci:/tmp/x", "must start with docker://")]
    public void Rejects_bad_references_with_a_reason(string input, string reason)
    {
        Assert.False(RegistryReference.TryParse(input, out _, out string? problem));
        Assert.Contains(reason, problem);
        Assert.Contains(reason, Assert.Throws<FormatException>(() => RegistryReference.Parse(input)).Message);
    }

    [Fact]
    public void Repository_names_for_image_refs_use_docker_io_for_docker_hub()
    {
        Assert.Equal("docker.io/library/alpine", RegistryReference.RepositoryName("registry-1.docker.io", "library/alpine"));
        Assert.Equal("127.0.0.1:5000/team/app", RegistryReference.RepositoryName("127.0.0.1:5000", "team/app"));
    }
}

public sealed class AuthChallengeTests
{
    [Fact]
    public void Parses_a_bearer_challenge_with_quoted_commas_and_escapes()
    {
        var all = AuthChallenge.Parse("Bearer realm=\"https://auth.example.com/token\",service=\"registry.example.com\",scope=\"repository:team/app:pull,push\",error=\"a \\\"quoted\\\" word\"");

        var c = Assert.Single(all);
        Assert.True(c.IsBearer);
        Assert.Equal("https://auth.example.com/token", c.Realm);
        Assert.Equal("registry.example.com", c.Service);
        Assert.Equal("repository:team/app:pull,push", c.Scope);
        Assert.Equal("a \"quoted\" word", c.Parameter("error"));
    }

    [Fact]
    public void Parses_several_challenges_in_one_value_and_across_values()
    {
        var all = AuthChallenge.ParseAll(["Basic realm=\"Registry Realm\", Bearer realm=https://a/token, service=svc", "Negotiate"]);

        Assert.Equal(["Basic", "Bearer", "Negotiate"], all.Select(c => c.Scheme));
        Assert.Equal("Registry Realm", all[0].Realm);
        Assert.Equal("https://a/token", all[1].Realm);
        Assert.Equal("svc", all[1].Service);
        Assert.Empty(all[2].Parameters);
    }

    [Fact]
    public void Parameter_names_are_case_insensitive_and_junk_is_skipped()
    {
        var all = AuthChallenge.Parse("=\"junk\", bearer Realm=\"r\" , SERVICE=s,,");

        var c = Assert.Single(all);
        Assert.True(c.IsBearer);
        Assert.Equal("r", c.Realm);
        Assert.Equal("s", c.Service);
    }
}

public sealed class LinkHeaderTests
{
    private static readonly Uri Request = new("https://registry.example.com/v2/_catalog?n=2");

    [Theory]
    [InlineData("</v2/_catalog?last=b&n=2>; rel=\"next\"", "https://registry.example.com/v2/_catalog?last=b&n=2")]
    [InlineData("<https://other.example.com/v2/_catalog?last=b>; rel=next", "https://other.example.com/v2/_catalog?last=b")]
    [InlineData("</v2/x?last=a>; rel=\"prev\", </v2/x?last=c>; title=\"a, b\"; rel=\"next last\"", "https://registry.example.com/v2/x?last=c")]
    public void Finds_the_next_link(string header, string expected) =>
        Assert.Equal(new Uri(expected), LinkHeader.Next([header], Request));

    [Theory]
    [InlineData("</v2/x?last=a>; rel=\"prev\"")]
    [InlineData("garbage")]
    [InlineData("")]
    public void No_next_link(string header) => Assert.Null(LinkHeader.Next([header], Request));
}

public sealed class RetryPolicyTests
{
    [Fact]
    public void Backoff_is_full_jitter_under_an_exponential_ceiling_with_a_cap()
    {
        var b = TimeSpan.FromMilliseconds(200);
        var cap = TimeSpan.FromSeconds(10);

        Assert.Equal(TimeSpan.FromMilliseconds(200), RetryPolicy.Backoff(1, b, cap, 1.0));
        Assert.Equal(TimeSpan.FromMilliseconds(400), RetryPolicy.Backoff(2, b, cap, 1.0));
        Assert.Equal(TimeSpan.FromMilliseconds(800), RetryPolicy.Backoff(3, b, cap, 1.0));
        Assert.Equal(TimeSpan.FromMilliseconds(1600), RetryPolicy.Backoff(4, b, cap, 1.0));
        Assert.Equal(TimeSpan.FromMilliseconds(100), RetryPolicy.Backoff(1, b, cap, 0.5));
        Assert.Equal(cap, RetryPolicy.Backoff(7, b, cap, 1.0)); // 200 ms × 64 = 12.8 s, capped
        Assert.Equal(cap, RetryPolicy.Backoff(500, b, cap, 1.0));
        Assert.Equal(TimeSpan.Zero, RetryPolicy.Backoff(5, b, cap, 0.0));
    }

    [Fact]
    public void Retry_after_takes_seconds_or_an_http_date()
    {
        var now = new DateTimeOffset(2025, 1, 1, 12, 0, 0, TimeSpan.Zero);

        Assert.Equal(TimeSpan.FromSeconds(7), RetryPolicy.RetryAfter(new System.Net.Http.Headers.RetryConditionHeaderValue(TimeSpan.FromSeconds(7)), now));
        Assert.Equal(TimeSpan.FromSeconds(30), RetryPolicy.RetryAfter(new System.Net.Http.Headers.RetryConditionHeaderValue(now.AddSeconds(30)), now));
        Assert.Equal(TimeSpan.Zero, RetryPolicy.RetryAfter(new System.Net.Http.Headers.RetryConditionHeaderValue(now.AddSeconds(-30)), now));
        Assert.Null(RetryPolicy.RetryAfter(null, now));
    }

    [Theory]
    [InlineData(408, true)]
    [InlineData(429, true)]
    [InlineData(500, true)]
    [InlineData(502, true)]
    [InlineData(503, true)]
    [InlineData(504, true)]
    [InlineData(501, false)]
    [InlineData(404, false)]
    [InlineData(401, false)]
    public void Retryable_statuses(int status, bool retryable) =>
        Assert.Equal(retryable, RetryPolicy.IsRetryableStatus((System.Net.HttpStatusCode)status));

    [Fact]
    public async Task Gives_up_when_the_budget_is_spent_with_a_message_naming_the_attempts_and_the_last_error()
    {
        var clock = new FakeClock();
        var options = new RegistryOptions { Clock = clock, Random = () => 1.0, RetryBudget = TimeSpan.FromSeconds(2) };
        int calls = 0;

        var ex = await Assert.ThrowsAsync<RegistryException>(() => new RetryPolicy(options).ExecuteAsync<int>(
            "registry r: GET /v2/x",
            _ =>
            {
                calls++;
                return Task.FromResult(Attempt<int>.Again($"HTTP 503 #{calls}"));
            },
            CancellationToken.None));

        // waits 0.2, 0.4, 0.8 (1.4 s), then 0.6 s (what is left of 2 s): 5 attempts, the 5th over budget
        Assert.Equal([0.2, 0.4, 0.8, 0.6], clock.Delays.Select(d => Math.Round(d.TotalSeconds, 3)));
        Assert.Equal(5, calls);
        Assert.Equal("registry r: GET /v2/x: gave up after 5 attempts over 2.0 s: last error HTTP 503 #5", ex.Message);
    }

    [Fact]
    public async Task Transient_exceptions_are_retried_and_others_are_not()
    {
        var options = new RegistryOptions { Clock = new FakeClock(), Random = () => 0.5 };
        int calls = 0;
        int value = await new RetryPolicy(options).ExecuteAsync(
            "x",
            _ => ++calls < 3 ? throw new HttpRequestException("connection refused") : Task.FromResult(Attempt<int>.Done(42)),
            CancellationToken.None);
        Assert.Equal((42, 3), (value, calls));

        calls = 0;
        await Assert.ThrowsAsync<InvalidOperationException>(() => new RetryPolicy(options).ExecuteAsync<int>(
            "x", _ => { calls++; throw new InvalidOperationException("a bug"); }, CancellationToken.None));
        Assert.Equal(1, calls);
    }
}
