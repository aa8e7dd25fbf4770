using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Core.Sources;

/// <summary>How file sources are read.</summary>
public sealed record ImageSourceOptions
{
    /// <summary>Keep only platform images that match (os/arch[/variant]); null keeps every platform.</summary>
    public Platform? PlatformFilter { get; init; }

    /// <summary>The largest index, manifest, config or manifest.json read into memory.</summary>
    public long MaxDocumentBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>
    /// A config blob the caller already holds (verified when it was stored), by digest; null when it does not. Remote
    /// sources use it instead of fetching the blob again. Called from several tasks at once: it must be thread-safe.
    /// </summary>
    public Func<Digest, byte[]?>? KnownConfig { get; init; }

    /// <summary>How deep nested indexes are followed before giving up.</summary>
    public int MaxIndexDepth { get; init; } = 8;

    public static ImageSourceOptions Default { get; } = new();
}

/// <summary>The form an input names: chosen by a skopeo-style prefix, or recognised by content.</summary>
public enum SourceForm
{
    /// <summary>A plain path: recognised by its content.</summary>
    Auto,

    /// <summary><c>docker-archive:PATH[:ref]</c>: a docker save tarball (legacy or Docker 25+).</summary>
    DockerArchive,

    /// <summary><c>oci:PATH[:ref]</c>: an OCI image layout (directory).</summary>
    OciLayout,

    /// <summary><c>oci-archive:PATH[:ref]</c>: an OCI image layout in a tar file.</summary>
    OciArchive,
}

/// <summary>An input string taken apart: the form, the path on disk and the optional <c>:ref</c> selector.</summary>
public sealed record SourceInput(string Input, SourceForm Form, string Path, string? Reference);

/// <summary>Opens file image sources: docker save tarballs, OCI layouts (directories or tars), gzipped or not.</summary>
public static class ImageSources
{
    /// <summary>The <see cref="IImage.ManifestMediaType"/> of a legacy docker save entry, which has no manifest of its own.</summary>
    public const string LegacyDockerSaveMediaType = "application/vnd.docker.save.legacy-manifest+json";

    private static readonly (string Prefix, SourceForm Form)[] Prefixes =
    [
        ("docker-archive:", SourceForm.DockerArchive),
        ("oci-archive:", SourceForm.OciArchive),
        ("oci:", SourceForm.OciLayout),
    ];

    /// <summary>
    /// Opens <paramref name="input"/>: a path (recognised by content) or <c>docker-archive:</c>/<c>oci:</c>/<c>oci-archive:</c>
    /// PATH[:ref]. Never throws for a bad input: problems come back in <see cref="SourceListing.Errors"/>.
    /// </summary>
    public static IImageSource Open(string input, ImageSourceOptions? options = null) => Open(input, options, null);

    /// <summary>
    /// As <see cref="Open(string, ImageSourceOptions?)"/>, and <c>docker://</c> inputs go to a registry source of
    /// <paramref name="registry"/> (or, when null, of a session of its own with default options).
    /// </summary>
    public static IImageSource Open(string input, ImageSourceOptions? options, Registry.RegistrySession? registry)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Registry.RegistryReference.IsRegistryInput(input))
        {
            return registry is not null
                ? registry.Open(input, options)
                : new Registry.RegistryImageSource(new Registry.RegistrySession(), input, options ?? ImageSourceOptions.Default, ownsSession: true);
        }

        return new FileImageSource(Parse(input), options ?? ImageSourceOptions.Default);
    }

    /// <summary>True when the input names a source: <c>docker://</c>, a prefix this class knows, or an existing path.</summary>
    public static bool Recognises(string input) =>
        Registry.RegistryReference.IsRegistryInput(input) || Prefixes.Any(p => input.StartsWith(p.Prefix, StringComparison.Ordinal)) || File.Exists(input) || Directory.Exists(input);

    /// <summary>
    /// Splits an input. The path part wins when it exists as written (paths may contain ':'); otherwise the longest
    /// existing prefix before a ':' is the path and the rest is the reference.
    /// </summary>
    public static SourceInput Parse(string input)
    {
        foreach (var (prefix, form) in Prefixes)
        {
            if (!input.StartsWith(prefix, StringComparison.Ordinal))
            {
                continue;
            }

            string rest = input[prefix.Length..];
            if (Exists(rest))
            {
                return new SourceInput(input, form, rest, null);
            }

            for (int colon = rest.LastIndexOf(':'); colon > 0; colon = rest.LastIndexOf(':', colon - 1))
            {
                string path = rest[..colon];
                if (Exists(path))
                {
                    string reference = rest[(colon + 1)..];
                    return new SourceInput(input, form, path, reference.Length == 0 ? null : reference);
                }
            }

            return new SourceInput(input, form, rest, null);
        }

        return new SourceInput(input, SourceForm.Auto, input, null);
    }

    private static bool Exists(string path) => path.Length > 0 && (File.Exists(path) || Directory.Exists(path));
}
