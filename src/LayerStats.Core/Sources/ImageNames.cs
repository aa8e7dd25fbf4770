using LayerStats.Core.Images;

namespace LayerStats.Core.Sources;

/// <summary>
/// A name an image was found under in a source: the text as written there (<see cref="Raw"/>), split into a repository in
/// canonical form (<see cref="RepositoryNames"/>: <c>web</c> is <c>docker.io/library/web</c>) and a tag.
/// </summary>
internal sealed record ImageName(string Raw, string? Repository, string? Tag)
{
    /// <summary>
    /// A reference such as "registry:5000/team/app:1.0" or "busybox@sha256:…" (the digest part is dropped). The repository
    /// is stored canonical ("busybox" → "docker.io/library/busybox"); one that does not fit the grammar is kept as written.
    /// </summary>
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
            ? new ImageName(raw, Canonical(s[..colon]), Empty(s[(colon + 1)..]))
            : new ImageName(raw, Canonical(s), null);
    }

    /// <summary>
    /// An <c>org.opencontainers.image.ref.name</c> annotation: a bare tag ("latest", "1.0") when it fits the tag grammar,
    /// else a full reference (skopeo writes "name:tag" there).
    /// </summary>
    public static ImageName FromRefNameAnnotation(string raw) =>
        RepositoryNames.IsValidTag(raw) ? new ImageName(raw, null, raw) : FromReference(raw);

    /// <summary>
    /// True when a <c>:ref</c> selector names this image: the raw text, or the same repository (written short or long:
    /// "busybox", "docker.io/library/busybox") and tag ("latest" when none is written).
    /// </summary>
    public bool Matches(string selector)
    {
        if (selector == Raw)
        {
            return true;
        }

        var other = FromReference(selector);
        return Repository is not null && other.Repository is not null
            && Repository == other.Repository
            && (Tag ?? "latest") == (other.Tag ?? "latest");
    }

    /// <summary>The name as people write it: the short Docker Hub form ("web:latest"), others in full.</summary>
    public override string ToString()
    {
        if (Repository is null)
        {
            return Tag ?? Raw;
        }

        string repository = RepositoryNames.Familiar(Repository);
        return Tag is null ? repository : $"{repository}:{Tag}";
    }

    private static string? Canonical(string repository) => repository.Length == 0 ? null : RepositoryNames.Normalize(repository);

    private static string? Empty(string s) => s.Length == 0 ? null : s;
}
