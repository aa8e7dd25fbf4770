namespace LayerStats.Core.Model;

/// <summary>An OCI content descriptor: what a manifest or index says about a blob.</summary>
public sealed record Descriptor(
    string MediaType,
    Digest Digest,
    long Size,
    Platform? Platform = null,
    IReadOnlyDictionary<string, string>? Annotations = null,
    IReadOnlyList<string>? Urls = null,
    string? ArtifactType = null)
{
    public string? Annotation(string key) =>
        Annotations is not null && Annotations.TryGetValue(key, out var value) ? value : null;
}
