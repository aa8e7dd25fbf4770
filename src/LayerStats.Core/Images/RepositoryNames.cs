using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace LayerStats.Core.Images;

/// <summary>
/// Repository names in one canonical form, as docker/distribution's <c>reference.ParseNormalizedNamed</c> writes them,
/// so that the same repository found in a <c>docker save</c> archive, an OCI layout and a registry is the same text.
/// The one home of the Docker Hub rules: the file sources (image names) and the registry references both use it.
/// </summary>
/// <remarks>
/// Rules (distribution's <c>splitDockerDomain</c>):
/// <list type="bullet">
/// <item>The first '/'-separated component is a registry host when it contains '.' or ':' or is <c>localhost</c>
/// (an IPv6 literal <c>[…]:port</c> contains ':'); otherwise the whole name is a Docker Hub path
/// (<c>web</c>, <c>team/app</c>).</item>
/// <item>Hosts compare case-insensitively and are written lower-case. <c>index.docker.io</c> (distribution's legacy
/// name) and <c>registry-1.docker.io</c> (the Hub's API host, which distribution keeps as written) are <c>docker.io</c>.</item>
/// <item>A single-component Docker Hub path gets <c>library/</c>: <c>web</c> is <c>docker.io/library/web</c>.</item>
/// <item>Paths are lower-case by grammar; a name that does not fit the grammar is not normalised (distribution would
/// refuse it; an image named so is still an image, so callers keep such a name as written).</item>
/// </list>
/// </remarks>
public static partial class RepositoryNames
{
    /// <summary>Docker Hub as canonical names write it.</summary>
    public const string DockerHub = "docker.io";

    /// <summary>The path prefix of Docker Hub's official images.</summary>
    public const string OfficialPrefix = "library/";

    private const string CanonicalHubPrefix = DockerHub + "/";
    private const string CanonicalOfficialPrefix = CanonicalHubPrefix + OfficialPrefix;

    /// <summary>True when a name's first component is a registry host rather than the start of a Docker Hub path.</summary>
    public static bool IsHostComponent(string first) =>
        first.Contains('.', StringComparison.Ordinal) || first.Contains(':', StringComparison.Ordinal) || first == "localhost";

    /// <summary>True for Docker Hub's names: <c>docker.io</c>, <c>index.docker.io</c>, <c>registry-1.docker.io</c> (any case).</summary>
    public static bool IsDockerHub(string host) =>
        host.Equals(DockerHub, StringComparison.OrdinalIgnoreCase)
        || host.Equals("index.docker.io", StringComparison.OrdinalIgnoreCase)
        || host.Equals("registry-1.docker.io", StringComparison.OrdinalIgnoreCase);

    /// <summary>A host as canonical names write it: lower-case, Docker Hub as <c>docker.io</c>.</summary>
    public static string CanonicalHost(string host) => IsDockerHub(host) ? DockerHub : host.ToLowerInvariant();

    /// <summary>
    /// The canonical name of a repository at a host: <c>(registry-1.docker.io, alpine)</c> → <c>docker.io/library/alpine</c>,
    /// <c>(Registry.Example.com:5000, team/app)</c> → <c>registry.example.com:5000/team/app</c>.
    /// </summary>
    public static string Join(string host, string path)
    {
        string canonicalHost = CanonicalHost(host);
        return canonicalHost == DockerHub && !path.Contains('/', StringComparison.Ordinal)
            ? CanonicalOfficialPrefix + path
            : $"{canonicalHost}/{path}";
    }

    /// <summary>
    /// A repository name (no tag, no digest) in canonical form: <c>web</c> → <c>docker.io/library/web</c>,
    /// <c>team/app</c> → <c>docker.io/team/app</c>, <c>index.docker.io/web</c> → <c>docker.io/library/web</c>,
    /// <c>localhost:5000/app</c> unchanged. False when the name does not fit the grammar.
    /// </summary>
    public static bool TryNormalize(string name, [NotNullWhen(true)] out string? canonical)
    {
        canonical = null;
        int slash = name.IndexOf('/', StringComparison.Ordinal);
        string host;
        string path;
        if (slash >= 0 && IsHostComponent(name[..slash]))
        {
            host = name[..slash];
            path = name[(slash + 1)..];
            if (!IsValidHost(host))
            {
                return false;
            }
        }
        else
        {
            host = DockerHub;
            path = name;
        }

        if (!IsValidPath(path))
        {
            return false;
        }

        // distribution's NameTotalLengthMax applies to the name with its host.
        string joined = Join(host, path);
        if (joined.Length > 255)
        {
            return false;
        }

        canonical = joined;
        return true;
    }

    /// <summary>The canonical form of a repository name, or the name as written when it does not fit the grammar.</summary>
    public static string Normalize(string name) => TryNormalize(name, out string? canonical) ? canonical : name;

    /// <summary>
    /// The short form people write and docker prints (distribution's <c>FamiliarName</c>): <c>docker.io/library/web</c> →
    /// <c>web</c>, <c>docker.io/team/app</c> → <c>team/app</c>; any other name unchanged.
    /// </summary>
    public static string Familiar(string canonical)
    {
        if (!canonical.StartsWith(CanonicalHubPrefix, StringComparison.Ordinal))
        {
            return canonical;
        }

        string path = canonical[CanonicalHubPrefix.Length..];
        return path.StartsWith(OfficialPrefix, StringComparison.Ordinal) && path.IndexOf('/', OfficialPrefix.Length) < 0
            ? path[OfficialPrefix.Length..]
            : path;
    }

    /// <summary>True for a repository path of the distribution grammar (lower-case components joined by '/'), at most 255 characters.</summary>
    public static bool IsValidPath(string path) => path.Length is > 0 and <= 255 && PathGrammar().IsMatch(path);

    /// <summary>True for a tag of the distribution grammar.</summary>
    public static bool IsValidTag(string tag) => TagGrammar().IsMatch(tag);

    /// <summary>True for <c>host[:port]</c>: DNS labels (any case), an IPv4 address, or an IPv6 literal in brackets; port 1–65535.</summary>
    public static bool IsValidHost(string host)
    {
        string name = host;
        if (host.StartsWith('['))
        {
            int close = host.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || !System.Net.IPAddress.TryParse(host[1..close], out _))
            {
                return false;
            }

            string after = host[(close + 1)..];
            return after.Length == 0 || (after[0] == ':' && IsValidPort(after[1..]));
        }

        int colon = host.IndexOf(':', StringComparison.Ordinal);
        if (colon >= 0)
        {
            if (!IsValidPort(host[(colon + 1)..]))
            {
                return false;
            }

            name = host[..colon];
        }

        return HostGrammar().IsMatch(name);
    }

    private static bool IsValidPort(string port) =>
        port.Length is > 0 and <= 5 && port.All(char.IsAsciiDigit) && int.Parse(port, System.Globalization.CultureInfo.InvariantCulture) is > 0 and <= 65535;

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagGrammar();

    // distribution/reference: path components of [a-z0-9]+ joined by separators (. _ __ -+), split by '/'.
    [GeneratedRegex("^[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex PathGrammar();

    [GeneratedRegex("^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])(?:\\.(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]))*$")]
    private static partial Regex HostGrammar();
}
