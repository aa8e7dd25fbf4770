using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Registry;

/// <summary>What a <c>docker://</c> reference asks for.</summary>
public enum RegistryReferenceKind
{
    /// <summary><c>docker://host</c>: every repository of the registry's <c>_catalog</c>, every tag of each.</summary>
    Catalog,

    /// <summary><c>docker://host/name</c>: every tag of one repository.</summary>
    Repository,

    /// <summary><c>docker://host/name:tag</c> (or a Docker Hub short name, whose default tag is <c>latest</c>).</summary>
    Tag,

    /// <summary><c>docker://host/name@sha256:…</c>.</summary>
    Digest,
}

/// <summary>
/// A <c>docker://host[:port]/name[:tag|@digest]</c> reference taken apart as docker and skopeo do.
/// </summary>
/// <remarks>
/// Rules (docker's normalisation, plus the tag-less forms of this tool):
/// <list type="bullet">
/// <item>With a '/': the first component is a registry host when it contains '.' or ':' or is <c>localhost</c>;
/// otherwise the whole text is a Docker Hub repository (<c>docker://team/app</c> = <c>docker.io/team/app</c>).</item>
/// <item>Without a '/': the text is a registry host (whole catalog) when it is <c>localhost[:port]</c>, an IPv6 literal
/// <c>[…][:port]</c>, or a name with a '.' and at most a numeric port (<c>registry.example.com</c>, <c>10.0.0.5:5000</c>);
/// otherwise it is a Docker Hub short name (<c>alpine</c>, <c>alpine:3.19</c>, <c>myhost:5000</c> = image <c>myhost</c>,
/// tag <c>5000</c>, as docker reads it; write <c>docker://myhost:5000/</c> to mean the registry).</item>
/// <item>A trailing '/' after a host (<c>docker://host/</c>) names the host: the whole catalog.</item>
/// <item>Docker Hub: <c>docker.io</c> and <c>index.docker.io</c> are reached at <c>registry-1.docker.io</c>; a single-component
/// name gets <c>library/</c>.</item>
/// <item>The Docker Hub rules and the name grammar are <see cref="RepositoryNames"/>'s, shared with the file sources, so a
/// repository is recorded in the same canonical form whichever source reached it.</item>
/// <item>No tag and no digest: a Docker Hub short name (no registry written) means <c>:latest</c>, as docker reads it;
/// with a registry written (<c>docker://host/team/app</c>, also <c>docker://docker.io/library/alpine</c>) it means every tag.</item>
/// <item>Both a tag and a digest are rejected (as skopeo does): which one would be scanned is ambiguous.</item>
/// </list>
/// </remarks>
public sealed record RegistryReference
{
    public const string Scheme = "docker://";
    public const string DockerHubHost = "registry-1.docker.io";
    public const string DockerHubDisplay = RepositoryNames.DockerHub;

    private RegistryReference(string input, string host, string? repository, string? tag, Digest? digest, bool implicitRegistry)
    {
        Input = input;
        Host = host;
        Repository = repository;
        Tag = tag;
        Digest = digest;
        ImplicitRegistry = implicitRegistry;
    }

    /// <summary>The input as the user gave it.</summary>
    public string Input { get; }

    /// <summary>The host[:port] the API is reached at (<c>registry-1.docker.io</c> for Docker Hub).</summary>
    public string Host { get; }

    /// <summary>The repository name inside the registry (<c>library/alpine</c>), or null for the whole catalog.</summary>
    public string? Repository { get; }

    public string? Tag { get; }

    public Digest? Digest { get; }

    /// <summary>True when no registry was written (a Docker Hub short name).</summary>
    public bool ImplicitRegistry { get; }

    /// <summary>The registry as people write it: <c>docker.io</c> for Docker Hub, else <see cref="Host"/>.</summary>
    public string DisplayHost => DisplayHostOf(Host);

    public RegistryReferenceKind Kind =>
        Repository is null ? RegistryReferenceKind.Catalog
        : Digest is not null ? RegistryReferenceKind.Digest
        : Tag is not null ? RegistryReferenceKind.Tag
        : RegistryReferenceKind.Repository;

    /// <summary><c>host[:port]/name</c> as recorded in image_refs: the canonical form (<c>docker.io/library/alpine</c> for Docker Hub).</summary>
    public static string RepositoryName(string host, string repository) => RepositoryNames.Join(host, repository);

    public static string DisplayHostOf(string host) => RepositoryNames.IsDockerHub(host) ? DockerHubDisplay : host;

    public static bool IsRegistryInput(string input) => input.StartsWith(Scheme, StringComparison.Ordinal);

    public static RegistryReference Parse(string input) =>
        TryParse(input, out var reference, out string? problem) ? reference : throw new FormatException(problem);

    public static bool TryParse(string input, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out RegistryReference? reference, [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out string? problem)
    {
        reference = null;
        problem = null;
        if (!IsRegistryInput(input))
        {
            problem = $"'{input}' is not a registry reference: it must start with {Scheme}";
            return false;
        }

        string rest = input[Scheme.Length..];
        if (rest.Length == 0)
        {
            problem = $"'{input}' names no registry: write {Scheme}HOST[:PORT][/NAME[:TAG|@DIGEST]]";
            return false;
        }

        string? host;
        string path;
        bool implicitRegistry;
        int slash = rest.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            string first = rest[..slash];
            if (RepositoryNames.IsHostComponent(first) || first.StartsWith('['))
            {
                host = first;
                path = rest[(slash + 1)..];
                implicitRegistry = false;
            }
            else
            {
                host = DockerHubDisplay;
                path = rest;
                implicitRegistry = true;
            }
        }
        else if (LooksLikeHost(rest))
        {
            host = rest;
            path = "";
            implicitRegistry = false;
        }
        else
        {
            host = DockerHubDisplay;
            path = rest;
            implicitRegistry = true;
        }

        if (!RepositoryNames.IsValidHost(host))
        {
            problem = $"'{input}': '{host}' is not a valid registry host[:port]";
            return false;
        }

        host = RepositoryNames.IsDockerHub(host) ? DockerHubHost : host.ToLowerInvariant();
        if (path.Length == 0)
        {
            reference = new RegistryReference(input, host, null, null, null, implicitRegistry);
            return true;
        }

        string name = path;
        string? tag = null;
        Digest? digest = null;
        int at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            string digestText = name[(at + 1)..];
            if (!Model.Digest.TryParse(digestText, out var d))
            {
                problem = $"'{input}': '{digestText}' is not a digest (sha256:<64 lowercase hex>)";
                return false;
            }

            digest = d;
            name = name[..at];
        }

        int colon = name.LastIndexOf(':');
        if (colon >= 0 && colon > name.LastIndexOf('/'))
        {
            tag = name[(colon + 1)..];
            name = name[..colon];
            if (!RepositoryNames.IsValidTag(tag))
            {
                problem = $"'{input}': '{tag}' is not a valid tag";
                return false;
            }
        }

        if (tag is not null && digest is not null)
        {
            problem = $"'{input}' names both a tag and a digest; give one of them";
            return false;
        }

        if (!RepositoryNames.IsValidPath(name))
        {
            problem = $"'{input}': '{name}' is not a valid repository name (lowercase letters, digits and separators . _ __ - /)";
            return false;
        }

        if (host == DockerHubHost && !name.Contains('/', StringComparison.Ordinal))
        {
            name = RepositoryNames.OfficialPrefix + name;
        }

        if (implicitRegistry && tag is null && digest is null)
        {
            tag = "latest";
        }

        reference = new RegistryReference(input, host, name, tag, digest, implicitRegistry);
        return true;
    }

    /// <summary>The same registry and repository, at one tag or digest.</summary>
    public RegistryReference At(string? tag, Digest? digest) => new(Input, Host, Repository, tag, digest, ImplicitRegistry);

    public RegistryReference InRepository(string repository) => new(Input, Host, repository, null, null, ImplicitRegistry);

    public override string ToString()
    {
        if (Repository is null)
        {
            return DisplayHost;
        }

        string name = RepositoryName(Host, Repository);
        return Digest is { } d ? $"{name}@{d}" : Tag is not null ? $"{name}:{Tag}" : name;
    }

    /// <summary>True for a repository name of the distribution grammar (lowercase components joined by '/').</summary>
    public static bool IsValidRepositoryName(string name) => RepositoryNames.IsValidPath(name);

    public static bool IsValidTag(string tag) => RepositoryNames.IsValidTag(tag);

    private static bool LooksLikeHost(string text)
    {
        if (text.Contains('@', StringComparison.Ordinal))
        {
            return false;
        }

        if (text.StartsWith('['))
        {
            return true;
        }

        string hostPart = text;
        int colon = text.LastIndexOf(':');
        if (colon >= 0)
        {
            string port = text[(colon + 1)..];
            if (port.Length == 0 || !port.All(char.IsAsciiDigit))
            {
                return false;
            }

            hostPart = text[..colon];
        }

        return hostPart == "localhost" || hostPart.Contains('.', StringComparison.Ordinal);
    }
}
