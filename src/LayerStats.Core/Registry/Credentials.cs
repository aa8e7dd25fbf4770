using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace LayerStats.Core.Registry;

/// <summary>
/// Credentials for one registry: a user name and password, or an identity token (an OAuth2 refresh token that
/// <c>docker login</c> stores for some registries). <see cref="ToString"/> never shows the secret.
/// </summary>
public sealed class RegistryCredential
{
    public RegistryCredential(string username, string password, string? identityToken = null, string from = "")
    {
        Username = username;
        Password = password;
        IdentityToken = string.IsNullOrEmpty(identityToken) ? null : identityToken;
        From = from;
    }

    public string Username { get; }

    public string Password { get; }

    public string? IdentityToken { get; }

    /// <summary>Where the credential came from ("--username", "/home/u/.docker/config.json", "docker-credential-pass"): no secret.</summary>
    public string From { get; }

    public string BasicParameter => Convert.ToBase64String(Encoding.UTF8.GetBytes($"{Username}:{Password}"));

    public override string ToString() => $"credentials for user '{Username}' from {From} (secret not shown)";
}

/// <summary>Where credentials are looked up, injectable so that tests need not touch the process environment.</summary>
public sealed record CredentialSettings
{
    /// <summary>From <c>--username</c> and <c>--password-stdin</c>: used for every registry host scanned.</summary>
    public RegistryCredential? Explicit { get; init; }

    /// <summary>From <c>--auth-file</c>: when set, the only file read.</summary>
    public string? AuthFile { get; init; }

    /// <summary>Environment variables (HOME, DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, XDG_CONFIG_HOME, PATH); null reads the process environment.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    /// <summary>How long a credential helper may run.</summary>
    public TimeSpan HelperTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public string? Variable(string name) =>
        Environment is not null
            ? Environment.TryGetValue(name, out var v) && v.Length > 0 ? v : null
            : System.Environment.GetEnvironmentVariable(name) is { Length: > 0 } e ? e : null;
}

/// <summary>
/// Finds the credentials for a registry host, as docker and podman/skopeo do.
/// </summary>
/// <remarks>
/// Order: <c>--username</c>/<c>--password-stdin</c>; else <c>--auth-file</c> alone when given; else the first of these files
/// with an entry for the host: <c>$REGISTRY_AUTH_FILE</c>, <c>$XDG_RUNTIME_DIR/containers/auth.json</c>,
/// <c>$XDG_CONFIG_HOME/containers/auth.json</c> (default <c>~/.config</c>), <c>$DOCKER_CONFIG/config.json</c> (default
/// <c>~/.docker/config.json</c>). In one file: <c>credHelpers[host]</c>, then <c>auths[key]</c> (<c>auth</c> = base64
/// user:password, or <c>username</c>/<c>password</c>, and <c>identitytoken</c>), then <c>credsStore</c>. Keys match by host
/// (<c>host</c>, <c>host:port</c>, <c>https://host/v1/</c>…; Docker Hub is <c>https://index.docker.io/v1/</c>); keys naming a
/// repository path (podman's per-repository entries) are not used. A helper is <c>docker-credential-NAME get</c> found on
/// PATH, given the server URL on stdin; a helper that fails or is missing gives anonymous access and a warning (never its output).
/// </remarks>
public sealed class CredentialStore(CredentialSettings settings, Action<string>? warn = null)
{
    private readonly Dictionary<string, RegistryCredential?> _cache = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    /// <summary>The credential for an API host (<c>registry-1.docker.io</c>, <c>127.0.0.1:5000</c>), or null for anonymous access.</summary>
    public RegistryCredential? Find(string host)
    {
        lock (_gate)
        {
            if (!_cache.TryGetValue(host, out var found))
            {
                found = Lookup(host);
                _cache[host] = found;
            }

            return found;
        }
    }

    /// <summary>The files read, in order (existing or not).</summary>
    public IReadOnlyList<string> CandidateFiles()
    {
        if (settings.AuthFile is { Length: > 0 } explicitFile)
        {
            return [explicitFile];
        }

        var files = new List<string>();
        string? home = settings.Variable("HOME");
        if (settings.Variable("REGISTRY_AUTH_FILE") is { } authFile)
        {
            files.Add(authFile);
        }

        if (settings.Variable("XDG_RUNTIME_DIR") is { } runtime)
        {
            files.Add(Path.Combine(runtime, "containers", "auth.json"));
        }

        if (settings.Variable("XDG_CONFIG_HOME") is { } configHome)
        {
            files.Add(Path.Combine(configHome, "containers", "auth.json"));
        }
        else if (home is not null)
        {
            files.Add(Path.Combine(home, ".config", "containers", "auth.json"));
        }

        if (settings.Variable("DOCKER_CONFIG") is { } dockerConfig)
        {
            files.Add(Path.Combine(dockerConfig, "config.json"));
        }
        else if (home is not null)
        {
            files.Add(Path.Combine(home, ".docker", "config.json"));
        }

        return files;
    }

    private RegistryCredential? Lookup(string host)
    {
        if (settings.Explicit is not null)
        {
            return settings.Explicit;
        }

        foreach (string file in CandidateFiles())
        {
            if (!File.Exists(file))
            {
                continue;
            }

            JsonDocument doc;
            try
            {
                doc = JsonDocument.Parse(File.ReadAllBytes(file));
            }
            catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
            {
                warn?.Invoke($"credentials file {file} cannot be read ({ex.GetType().Name}); skipped");
                continue;
            }

            using (doc)
            {
                if (FromFile(doc.RootElement, file, host, out var credential))
                {
                    return credential;
                }
            }
        }

        return null;
    }

    /// <summary>True when the file decides for this host (a credential, or a helper that was asked, whatever it answered).</summary>
    private bool FromFile(JsonElement root, string file, string host, out RegistryCredential? credential)
    {
        credential = null;
        if (root.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (root.TryGetProperty("credHelpers", out var helpers) && helpers.ValueKind == JsonValueKind.Object)
        {
            foreach (var helper in helpers.EnumerateObject())
            {
                if (KeyMatches(helper.Name, host) && helper.Value.ValueKind == JsonValueKind.String && helper.Value.GetString() is { Length: > 0 } name)
                {
                    credential = RunHelper(name, helper.Name, host);
                    return true;
                }
            }
        }

        if (root.TryGetProperty("auths", out var auths) && auths.ValueKind == JsonValueKind.Object)
        {
            foreach (var entry in auths.EnumerateObject())
            {
                if (KeyMatches(entry.Name, host) && entry.Value.ValueKind == JsonValueKind.Object && FromAuthEntry(entry.Value, file) is { } found)
                {
                    credential = found;
                    return true;
                }
            }
        }

        if (root.TryGetProperty("credsStore", out var store) && store.ValueKind == JsonValueKind.String && store.GetString() is { Length: > 0 } storeName)
        {
            credential = RunHelper(storeName, ServerUrl(host), host);
            return credential is not null;
        }

        return false;
    }

    private static RegistryCredential? FromAuthEntry(JsonElement entry, string file)
    {
        string? identityToken = Str(entry, "identitytoken");
        if (Str(entry, "auth") is { Length: > 0 } auth)
        {
            string decoded;
            try
            {
                decoded = Encoding.UTF8.GetString(Convert.FromBase64String(auth));
            }
            catch (FormatException)
            {
                return null;
            }

            int colon = decoded.IndexOf(':', StringComparison.Ordinal);
            return colon < 0 ? null : new RegistryCredential(decoded[..colon], decoded[(colon + 1)..], identityToken, file);
        }

        if (Str(entry, "username") is { Length: > 0 } user)
        {
            return new RegistryCredential(user, Str(entry, "password") ?? "", identityToken, file);
        }

        return identityToken is not null ? new RegistryCredential("", "", identityToken, file) : null;
    }

    private static string? Str(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The server URL docker uses for a host: Docker Hub's legacy index URL, else the host itself.</summary>
    public static string ServerUrl(string host) => host == RegistryReference.DockerHubHost ? "https://index.docker.io/v1/" : host;

    /// <summary>Does a config key (<c>host</c>, <c>https://host:port/v1/</c>…) name this API host?</summary>
    public static bool KeyMatches(string key, string host)
    {
        string k = key.Trim();
        int scheme = k.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            k = k[(scheme + 3)..];
        }

        string path = "";
        int slash = k.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            path = k[slash..].Trim('/');
            k = k[..slash];
        }

        if (path.Length > 0 && path is not ("v1" or "v2"))
        {
            return false; // a per-repository entry
        }

        k = k.ToLowerInvariant();
        if (host == RegistryReference.DockerHubHost)
        {
            return k is "index.docker.io" or "docker.io" or "registry-1.docker.io" or "registry.hub.docker.com";
        }

        return k == host;
    }

    private RegistryCredential? RunHelper(string name, string serverUrl, string host)
    {
        string program = "docker-credential-" + name;
        string? path = FindOnPath(program);
        if (path is null)
        {
            warn?.Invoke($"credential helper {program} (for {RegistryReference.DisplayHostOf(host)}) is not on PATH; going on without credentials");
            return null;
        }

        try
        {
            var start = new ProcessStartInfo(path, "get")
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            if (settings.Environment is not null)
            {
                start.Environment.Clear();
                foreach (var (k, v) in settings.Environment)
                {
                    start.Environment[k] = v;
                }
            }

            using var process = Process.Start(start) ?? throw new IOException("the process did not start");
            process.StandardInput.Write(serverUrl);
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(settings.HelperTimeout))
            {
                process.Kill(entireProcessTree: true);
                warn?.Invoke($"credential helper {program} (for {RegistryReference.DisplayHostOf(host)}) did not answer within {settings.HelperTimeout.TotalSeconds:0} s; going on without credentials");
                return null;
            }

            process.WaitForExit();
            string output = stdout.GetAwaiter().GetResult();
            _ = stderr.GetAwaiter().GetResult();
            if (process.ExitCode != 0)
            {
                // Output of a failing helper is not shown: it is the helper's business what it prints.
                warn?.Invoke($"credential helper {program} found no usable credentials for {RegistryReference.DisplayHostOf(host)} (exit code {process.ExitCode}); going on without credentials");
                return null;
            }

            using var doc = JsonDocument.Parse(output);
            string user = Str(doc.RootElement, "Username") ?? "";
            string secret = Str(doc.RootElement, "Secret") ?? "";
            return user == "<token>"
                ? new RegistryCredential("", "", secret, program)
                : new RegistryCredential(user, secret, null, program);
        }
        catch (Exception ex) when (ex is JsonException or IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            warn?.Invoke($"credential helper {program} (for {RegistryReference.DisplayHostOf(host)}) failed ({ex.GetType().Name}); going on without credentials");
            return null;
        }
    }

    private string? FindOnPath(string program)
    {
        foreach (string dir in (settings.Variable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            string candidate = Path.Combine(dir, program);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
