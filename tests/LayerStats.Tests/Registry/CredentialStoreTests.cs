using System.Text;
using LayerStats.Core.Registry;

namespace LayerStats.Tests.Registry;

public sealed class CredentialStoreTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private string Write(string relative, string json)
    {
        string path = Path.Combine(_dir.Path, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, json);
        return path;
    }

    private CredentialStore Store(Dictionary<string, string> env, List<string>? warnings = null, string? authFile = null) =>
        new(new CredentialSettings { Environment = env, AuthFile = authFile }, warnings is null ? null : warnings.Add);

    [Fact]
    public void Docker_config_auths_entries_match_by_host_in_any_key_form()
    {
        Write("home/.docker/config.json", $$"""
            { "auths": {
                "https://index.docker.io/v1/": { "auth": "{{B64("hubuser:hub:pass")}}" },
                "http://127.0.0.1:5000/v2/": { "auth": "{{B64("local:pw")}}" },
                "registry.example.com": { "username": "u2", "password": "p2" },
                "registry.example.com/team/app": { "auth": "{{B64("repo:only")}}" } } }
            """);
        var store = Store(new() { ["HOME"] = Path.Combine(_dir.Path, "home") });

        var hub = store.Find("registry-1.docker.io");
        Assert.Equal(("hubuser", "hub:pass"), (hub!.Username, hub.Password));
        Assert.Equal(("local", "pw"), (store.Find("127.0.0.1:5000")!.Username, store.Find("127.0.0.1:5000")!.Password));
        Assert.Equal(("u2", "p2"), (store.Find("registry.example.com")!.Username, store.Find("registry.example.com")!.Password));
        Assert.Null(store.Find("127.0.0.1:5001"));
        Assert.Null(store.Find("other.example.com"));
    }

    [Fact]
    public void Files_are_read_in_order_registry_auth_file_then_runtime_auth_json_then_docker_config()
    {
        Write("auth.json", $$"""{ "auths": { "a.example.com": { "auth": "{{B64("from-registry-auth-file:1")}}" } } }""");
        Write("run/containers/auth.json", $$"""{ "auths": { "a.example.com": { "auth": "{{B64("from-runtime:2")}}" }, "b.example.com": { "auth": "{{B64("from-runtime:3")}}" } } }""");
        Write("dockercfg/config.json", $$"""{ "auths": { "b.example.com": { "auth": "{{B64("from-docker:4")}}" }, "c.example.com": { "auth": "{{B64("from-docker:5")}}" }, "d.example.com": { "identitytoken": "refresh-me" } } }""");
        var store = Store(new()
        {
            ["REGISTRY_AUTH_FILE"] = Path.Combine(_dir.Path, "auth.json"),
            ["XDG_RUNTIME_DIR"] = Path.Combine(_dir.Path, "run"),
            ["DOCKER_CONFIG"] = Path.Combine(_dir.Path, "dockercfg"),
            ["HOME"] = Path.Combine(_dir.Path, "nohome"),
        });

        Assert.Equal("from-registry-auth-file", store.Find("a.example.com")!.Username);
        Assert.Equal("from-runtime", store.Find("b.example.com")!.Username);
        Assert.Equal("from-docker", store.Find("c.example.com")!.Username);
        Assert.Equal("refresh-me", store.Find("d.example.com")!.IdentityToken);
        Assert.EndsWith(Path.Combine("dockercfg", "config.json"), store.Find("c.example.com")!.From);
    }

    [Fact]
    public void An_auth_file_option_replaces_the_default_files()
    {
        Write("home/.docker/config.json", $$"""{ "auths": { "a.example.com": { "auth": "{{B64("default:1")}}" } } }""");
        string file = Write("mine.json", $$"""{ "auths": { "b.example.com": { "auth": "{{B64("mine:2")}}" } } }""");
        var store = Store(new() { ["HOME"] = Path.Combine(_dir.Path, "home") }, authFile: file);

        Assert.Null(store.Find("a.example.com"));
        Assert.Equal("mine", store.Find("b.example.com")!.Username);
    }

    [Fact]
    public void Credential_helpers_are_run_with_the_server_url_on_stdin()
    {
        string bin = Path.Combine(_dir.Path, "bin");
        Directory.CreateDirectory(bin);
        string log = Path.Combine(_dir.Path, "helper.log");
        WriteScript(Path.Combine(bin, "docker-credential-test"), $$"""
            #!/bin/sh
            read -r url
            echo "$1 $url" >> '{{log}}'
            case "$url" in
              a.example.com) printf '{"ServerURL":"%s","Username":"helper-user","Secret":"helper-secret"}' "$url" ;;
              https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"an-identity-token"}' "$url" ;;
              *) echo "credentials not found in native keychain" ; exit 1 ;;
            esac
            """);
        Write("home/.docker/config.json", """{ "credHelpers": { "a.example.com": "test" }, "credsStore": "test", "auths": { "b.example.com": {} } }""");
        var warnings = new List<string>();
        var store = Store(new() { ["HOME"] = Path.Combine(_dir.Path, "home"), ["PATH"] = bin + ":/usr/bin:/bin" }, warnings);

        var a = store.Find("a.example.com");
        Assert.Equal(("helper-user", "helper-secret"), (a!.Username, a.Password));
        var hub = store.Find("registry-1.docker.io");
        Assert.Equal("an-identity-token", hub!.IdentityToken);
        Assert.Null(store.Find("b.example.com")); // credsStore knows nothing: anonymous, with a warning
        Assert.Equal(["get a.example.com", "get https://index.docker.io/v1/", "get b.example.com"], File.ReadAllLines(log));
        var warning = Assert.Single(warnings);
        Assert.Contains("docker-credential-test", warning);
        Assert.DoesNotContain("keychain", warning); // the helper's output is not repeated
    }

    [Fact]
    public void A_missing_helper_gives_anonymous_access_and_a_warning()
    {
        Write("home/.docker/config.json", """{ "credHelpers": { "a.example.com": "nonexistent" } }""");
        var warnings = new List<string>();
        var store = Store(new() { ["HOME"] = Path.Combine(_dir.Path, "home"), ["PATH"] = Path.Combine(_dir.Path, "empty") }, warnings);

        Assert.Null(store.Find("a.example.com"));
        Assert.Contains("docker-credential-nonexistent", Assert.Single(warnings));
    }

    [Fact]
    public void Explicit_credentials_win_and_never_show_their_secret()
    {
        Write("home/.docker/config.json", $$"""{ "auths": { "a.example.com": { "auth": "{{B64("file:pw")}}" } } }""");
        var explicitCredential = new RegistryCredential("cli-user", "cli-Secret-123", null, "--username");
        var store = new CredentialStore(new CredentialSettings { Explicit = explicitCredential, Environment = new Dictionary<string, string> { ["HOME"] = Path.Combine(_dir.Path, "home") } });

        var found = store.Find("a.example.com");
        Assert.Same(explicitCredential, found);
        Assert.DoesNotContain("cli-Secret-123", found!.ToString());
        Assert.Contains("cli-user", found.ToString());
    }

    [Fact]
    public void An_unreadable_file_is_skipped_with_a_warning()
    {
        Write("auth.json", "{ not json");
        Write("home/.docker/config.json", $$"""{ "auths": { "a.example.com": { "auth": "{{B64("ok:pw")}}" } } }""");
        var warnings = new List<string>();
        var store = Store(new() { ["REGISTRY_AUTH_FILE"] = Path.Combine(_dir.Path, "auth.json"), ["HOME"] = Path.Combine(_dir.Path, "home") }, warnings);

        Assert.Equal("ok", store.Find("a.example.com")!.Username);
        Assert.Contains("auth.json", Assert.Single(warnings));
    }

    private static void WriteScript(string path, string text)
    {
        File.WriteAllText(path, text.Replace("\r\n", "\n"));
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
    }
}
