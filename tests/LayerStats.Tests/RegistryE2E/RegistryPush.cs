using System.Net.Http.Headers;
using LayerStats.Fixtures;

namespace LayerStats.Tests.RegistryE2E;

/// <summary>
/// Pushes fixture-built images over the distribution API (monolithic blob uploads, then manifests), for what skopeo 1.9
/// cannot copy from an OCI layout (Docker schema 2 manifests and manifest lists). Anonymous registries only.
/// </summary>
public static class RegistryPush
{
    public static async Task ImageAsync(Uri registry, string name, BuiltImage image, string? tag)
    {
        using var http = new HttpClient { BaseAddress = registry };
        await PushImageAsync(http, name, image, tag);
    }

    public static async Task IndexAsync(Uri registry, string name, BuiltIndex index, string tag)
    {
        using var http = new HttpClient { BaseAddress = registry };
        foreach (var platform in index.Platforms)
        {
            await PushImageAsync(http, name, platform, tag: null);
        }

        await PutManifestAsync(http, name, tag, index.IndexBytes, index.MediaType);
    }

    private static async Task PushImageAsync(HttpClient http, string name, BuiltImage image, string? tag)
    {
        foreach (var (digest, bytes) in image.Blobs)
        {
            await PutBlobAsync(http, name, digest, bytes);
        }

        await PutManifestAsync(http, name, tag ?? image.ManifestDigest, image.ManifestBytes, image.ManifestMediaType);
        if (tag is not null)
        {
            await PutManifestAsync(http, name, image.ManifestDigest, image.ManifestBytes, image.ManifestMediaType);
        }
    }

    private static async Task PutBlobAsync(HttpClient http, string name, string digest, byte[] bytes)
    {
        using var start = await http.PostAsync($"v2/{name}/blobs/uploads/", content: null);
        start.EnsureSuccessStatusCode();
        var location = start.Headers.Location ?? throw new InvalidOperationException("upload without Location");
        string separator = location.ToString().Contains('?', StringComparison.Ordinal) ? "&" : "?";
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        using var put = await http.PutAsync(new Uri(http.BaseAddress!, location + separator + "digest=" + Uri.EscapeDataString(digest)), body);
        if (!put.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"blob upload {digest} to {name}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        }
    }

    private static async Task PutManifestAsync(HttpClient http, string name, string reference, byte[] bytes, string mediaType)
    {
        using var body = new ByteArrayContent(bytes);
        body.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        using var put = await http.PutAsync($"v2/{name}/manifests/{reference}", body);
        if (!put.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"manifest {reference} to {name}: {(int)put.StatusCode} {await put.Content.ReadAsStringAsync()}");
        }
    }
}
