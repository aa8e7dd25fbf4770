using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using LayerStats.Core.Images;
using LayerStats.Core.Model;

namespace LayerStats.Tests.Sources;

/// <summary>A layer as written: the blob bytes (maybe gzip) and the tar bytes they decompress to.</summary>
internal sealed record TestLayer(byte[] Blob, byte[] Tar, string MediaType)
{
    public string Digest => Hash(Blob);

    public string DiffId => Hash(Tar);

    public static string Hash(byte[] bytes) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(bytes));
}

/// <summary>An image as written: manifest, config and layers, with the descriptor that names the manifest.</summary>
internal sealed record TestImage(JsonObject ManifestDescriptor, byte[] Manifest, byte[] Config, IReadOnlyList<TestLayer> Layers)
{
    public string ManifestDigest => TestLayer.Hash(Manifest);

    public string ConfigDigest => TestLayer.Hash(Config);
}

/// <summary>
/// Writes minimal image archives for source tests (the project's fixtures builder lives elsewhere):
/// files by path, OCI blobs by digest, then written out as a directory, a tar or a gzipped tar.
/// </summary>
internal sealed class TestArchives
{
    private static int _counter;

    public List<(string Name, byte[] Bytes)> Files { get; } = [];

    /// <summary>Symlinks written into tars (name → target), as old docker save writes for a repeated layer.</summary>
    public List<(string Name, string Target)> Links { get; } = [];

    public static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    public static byte[] Json(JsonNode node) => Utf8(node.ToJsonString());

    public void Put(string name, byte[] bytes)
    {
        Files.RemoveAll(f => f.Name == name);
        Files.Add((name, bytes));
    }

    public JsonObject PutBlob(string mediaType, byte[] bytes)
    {
        string digest = TestLayer.Hash(bytes);
        Put("blobs/sha256/" + digest["sha256:".Length..], bytes);
        return Descriptor(mediaType, digest, bytes.Length);
    }

    public static JsonObject Descriptor(string mediaType, string digest, long size) =>
        new() { ["mediaType"] = mediaType, ["digest"] = digest, ["size"] = size };

    /// <summary>A tar with one regular file whose content is unique to this call.</summary>
    public static byte[] LayerTar(string fileName, string content)
    {
        using var ms = new MemoryStream();
        using (var writer = new TarWriter(ms, TarEntryFormat.Pax, leaveOpen: true))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, fileName)
            {
                DataStream = new MemoryStream(Utf8(content)),
                ModificationTime = DateTimeOffset.UnixEpoch,
            };
            writer.WriteEntry(entry);
        }

        return ms.ToArray();
    }

    public static byte[] Gzip(byte[] bytes)
    {
        using var ms = new MemoryStream();
        using (var gz = new GZipStream(ms, CompressionLevel.Fastest, leaveOpen: true))
        {
            gz.Write(bytes);
        }

        return ms.ToArray();
    }

    public static TestLayer NewLayer(bool gzip)
    {
        int n = Interlocked.Increment(ref _counter);
        byte[] tar = LayerTar($"file-{n}.txt", $"content of layer {n} " + new string('x', n % 50));
        return gzip ? new TestLayer(Gzip(tar), tar, MediaTypes.OciLayerGzip) : new TestLayer(tar, tar, MediaTypes.OciLayer);
    }

    public static byte[] ConfigJson(Platform platform, IEnumerable<TestLayer> layers)
    {
        var config = new JsonObject
        {
            ["architecture"] = platform.Architecture,
            ["os"] = platform.Os,
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(layers.Select(l => (JsonNode)l.DiffId).ToArray()) },
            ["history"] = new JsonArray(),
        };
        if (platform.Variant is not null)
        {
            config["variant"] = platform.Variant;
        }

        return Json(config);
    }

    /// <summary>Writes an image's config, layers and manifest as OCI blobs.</summary>
    public TestImage AddOciImage(Platform platform, int layerCount = 2, bool gzip = true, string configMediaType = MediaTypes.OciConfig, bool writeLayers = true)
    {
        var layers = Enumerable.Range(0, layerCount).Select(_ => NewLayer(gzip)).ToList();
        byte[] config = ConfigJson(platform, layers);
        var configDescriptor = PutBlob(configMediaType, config);
        var layerDescriptors = new JsonArray();
        foreach (var layer in layers)
        {
            layerDescriptors.Add(writeLayers ? PutBlob(layer.MediaType, layer.Blob) : Descriptor(layer.MediaType, layer.Digest, layer.Blob.Length));
        }

        var manifest = Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = MediaTypes.OciManifest,
            ["config"] = configDescriptor,
            ["layers"] = layerDescriptors,
        });
        var descriptor = PutBlob(MediaTypes.OciManifest, manifest);
        descriptor["platform"] = PlatformJson(platform);
        return new TestImage(descriptor, manifest, config, layers);
    }

    public static JsonObject PlatformJson(Platform platform)
    {
        var p = new JsonObject { ["architecture"] = platform.Architecture, ["os"] = platform.Os };
        if (platform.Variant is not null)
        {
            p["variant"] = platform.Variant;
        }

        return p;
    }

    public static byte[] IndexJson(IEnumerable<JsonObject> descriptors) => Json(new JsonObject
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = MediaTypes.OciIndex,
        ["manifests"] = new JsonArray(descriptors.Select(d => (JsonNode)d.DeepClone()).ToArray()),
    });

    /// <summary>Writes an index blob over the given descriptors and returns its descriptor.</summary>
    public JsonObject AddIndex(IEnumerable<JsonObject> descriptors) => PutBlob(MediaTypes.OciIndex, IndexJson(descriptors));

    /// <summary>The top-level index.json and oci-layout.</summary>
    public void SetLayoutIndex(params JsonObject[] descriptors)
    {
        Put("oci-layout", Utf8("{\"imageLayoutVersion\":\"1.0.0\"}"));
        Put("index.json", IndexJson(descriptors));
    }

    public static JsonObject Annotated(JsonObject descriptor, params (string Key, string Value)[] annotations)
    {
        var copy = (JsonObject)descriptor.DeepClone();
        var a = new JsonObject();
        foreach (var (k, v) in annotations)
        {
            a[k] = v;
        }

        copy["annotations"] = a;
        return copy;
    }

    /// <summary>A legacy docker save image: &lt;config-hex&gt;.json, &lt;id&gt;/layer.tar, and its manifest.json entry.</summary>
    public (JsonObject Entry, byte[] Config, List<TestLayer> Layers) AddLegacyImage(Platform platform, int layerCount, params string[] repoTags)
    {
        var layers = Enumerable.Range(0, layerCount).Select(_ => NewLayer(gzip: false)).ToList();
        byte[] config = ConfigJson(platform, layers);
        string configName = TestLayer.Hash(config)["sha256:".Length..] + ".json";
        Put(configName, config);
        var layerPaths = new JsonArray();
        foreach (var layer in layers)
        {
            string id = Convert.ToHexStringLower(SHA256.HashData(Utf8(layer.DiffId + "v1")));
            Put($"{id}/layer.tar", layer.Tar);
            Put($"{id}/VERSION", Utf8("1.0"));
            layerPaths.Add(id + "/layer.tar");
        }

        var entry = new JsonObject
        {
            ["Config"] = configName,
            ["RepoTags"] = new JsonArray(repoTags.Select(t => (JsonNode)t).ToArray()),
            ["Layers"] = layerPaths,
        };
        return (entry, config, layers);
    }

    public void SetManifestJson(params JsonObject[] entries) =>
        Put("manifest.json", Json(new JsonArray(entries.Select(e => (JsonNode)e.DeepClone()).ToArray())));

    public string WriteDirectory(string dir)
    {
        foreach (var (name, bytes) in Files)
        {
            string full = Path.Combine(dir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, bytes);
        }

        return dir;
    }

    public string WriteTar(string path, bool gzip = false, string namePrefix = "")
    {
        using var fs = File.Create(path);
        using Stream output = gzip ? new GZipStream(fs, CompressionLevel.Fastest) : fs;
        using (var writer = new TarWriter(output, TarEntryFormat.Pax, leaveOpen: true))
        {
            foreach (var dir in Files.Select(f => Path.GetDirectoryName(f.Name)!.Replace('\\', '/')).Where(d => d.Length > 0).Distinct())
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.Directory, namePrefix + dir + "/") { ModificationTime = DateTimeOffset.UnixEpoch });
            }

            foreach (var (name, bytes) in Files)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, namePrefix + name)
                {
                    DataStream = new MemoryStream(bytes),
                    ModificationTime = DateTimeOffset.UnixEpoch,
                });
            }

            foreach (var (name, target) in Links)
            {
                writer.WriteEntry(new PaxTarEntry(TarEntryType.SymbolicLink, namePrefix + name) { LinkName = target, ModificationTime = DateTimeOffset.UnixEpoch });
            }
        }

        return path;
    }
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(PathName);

    public string PathName { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "layerstats-sources-" + Guid.NewGuid().ToString("N"));

    public string File(string name) => System.IO.Path.Combine(PathName, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(PathName, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>Checks that a listed image's layers open and hash to the digests the image states.</summary>
internal static class ImageChecks
{
    public static async Task AssertLayersReadableAsync(IImage image)
    {
        foreach (var layer in image.Layers)
        {
            Assert.True(layer.IsAvailable, $"layer {layer.Digest} should be available");
            var stream = await layer.OpenCompressedAsync(CancellationToken.None);
            await using (stream)
            {
                using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
                var buffer = new byte[8192];
                long total = 0;
                int n;
                while ((n = await stream.ReadAsync(buffer)) > 0)
                {
                    sha.AppendData(buffer, 0, n);
                    total += n;
                }

                Assert.Equal(layer.Digest.ToString(), "sha256:" + Convert.ToHexStringLower(sha.GetHashAndReset()));
                Assert.Equal(layer.Size, total);
            }
        }
    }

    public static void AssertLayersAre(IImage image, IReadOnlyList<TestLayer> expected, bool legacy = false)
    {
        Assert.Equal(expected.Count, image.Layers.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var layer = image.Layers[i];
            Assert.Equal(legacy ? expected[i].DiffId : expected[i].Digest, layer.Digest.ToString());
            Assert.Equal(expected[i].DiffId, layer.DiffId.ToString());
            Assert.Equal(legacy ? expected[i].Tar.Length : expected[i].Blob.Length, layer.Size);
            Assert.Equal(legacy ? MediaTypes.DockerLayer : expected[i].MediaType, layer.MediaType);
        }
    }
}
