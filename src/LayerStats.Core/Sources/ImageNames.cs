using System.Text.RegularExpressions;

namespace LayerStats.Core.Sources;

/// <summary>A name an image was found under in a source: the text as written there, split into repository and tag.</summary>
internal sealed partial record ImageName(string Raw, string? Repository, string? Tag)
{
    /// <summary>A reference such as "registry:5000/team/app:1.0" or "busybox@sha256:…" (the digest part is dropped).</summary>
    public static ImageName FromReference(string raw)
    {
        string s = raw;
        int at = s.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            s = s[..at];
        }

        int slash = s.LastIndexOf('/');
        int colon = s.LastIndexOf(':');
        return colon > slash
            ? new ImageName(raw, Empty(s[..colon]), Empty(s[(colon + 1)..]))
            : new ImageName(raw, Empty(s), null);
    }

    /// <summary>
    /// An <c>org.opencontainers.image.ref.name</c> annotation: a bare tag ("latest", "1.0") when it fits the tag grammar,
    /// else a full reference (skopeo writes "name:tag" there).
    /// </summary>
    public static ImageName FromRefNameAnnotation(string raw) =>
        TagGrammar().IsMatch(raw) ? new ImageName(raw, null, raw) : FromReference(raw);

    /// <summary>True when a <c>:ref</c> selector names this image: the raw text, "repo:tag", or the same Docker Hub name written shorter or longer.</summary>
    public bool Matches(string selector)
    {
        if (selector == Raw || (Repository is not null && Tag is not null && selector == $"{Repository}:{Tag}"))
        {
            return true;
        }

        var other = FromReference(selector);
        return Repository is not null && other.Repository is not null
            && Familiar(Repository) == Familiar(other.Repository)
            && (Tag ?? "latest") == (other.Tag ?? "latest");
    }

    public override string ToString() => Repository is null ? Tag ?? Raw : Tag is null ? Repository : $"{Repository}:{Tag}";

    private static string Familiar(string repository)
    {
        string r = repository;
        foreach (string prefix in new[] { "docker.io/", "index.docker.io/", "registry-1.docker.io/" })
        {
            if (r.StartsWith(prefix, StringComparison.Ordinal))
            {
                r = r[prefix.Length..];
                break;
            }
        }

        return r.StartsWith("library/", StringComparison.Ordinal) && r.IndexOf('/', 8) < 0 ? r[8..] : r;
    }

    private static string? Empty(string s) => s.Length == 0 ? null : s;

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagGrammar();
}
