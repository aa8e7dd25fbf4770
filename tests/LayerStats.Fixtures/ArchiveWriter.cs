using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;

namespace LayerStats.Fixtures;

/// <summary>
/// One entry of an OCI layout's index.json: a platform image, or a multi-platform index. A nested index is stored as
/// a blob and referenced from index.json (as <c>skopeo copy --all</c> writes it); a flat one lists each platform
/// manifest directly in index.json, all with the same ref name. One index.json entry per ref name.
/// </summary>
public sealed record OciEntry(BuiltImage? Image, BuiltIndex? Index, IReadOnlyList<string> RefNames, bool Nested)
{
    /// <param name="refNames">The <c>org.opencontainers.image.ref.name</c> values; default: the image's RepoTags; none: no annotation.</param>
    public static OciEntry Of(BuiltImage image, params string[] refNames) =>
        new(image, null, refNames.Length > 0 ? refNames : image.RepoTags, Nested: false);

    public static OciEntry Of(BuiltIndex index, bool nested = true, params string[] refNames) =>
        new(null, index, refNames.Length > 0 ? refNames : index.RepoTags, nested);

    public static implicit operator OciEntry(BuiltImage image) => Of(image);

    public static implicit operator OciEntry(BuiltIndex index) => Of(index);
}

/// <summary>Writes built images in the archive forms a scanner meets. Every form is deterministic (sorted entries, fixed mtimes).</summary>
public static class ArchiveWriter
{
    public const string OciLayoutFile = "{\"imageLayoutVersion\":\"1.0.0\"}";

    /// <summary><c>docker save</c> before Docker 25: manifest.json, repositories, &lt;id&gt;/{VERSION,json,layer.tar} (uncompressed), &lt;config hex&gt;.json.</summary>
    public static void DockerSaveLegacy(string path, params BuiltImage[] images) => WriteTar(path, DockerSaveLegacyFiles(images));

    /// <summary><c>docker save</c> of Docker 25+: oci-layout, index.json, blobs/sha256/* (blobs as built), manifest.json and repositories.</summary>
    public static void DockerSave25(string path, params BuiltImage[] images) => WriteTar(path, DockerSave25Files(images));

    /// <summary>An OCI image layout directory.</summary>
    public static void OciLayout(string dir, params OciEntry[] entries) => WriteDirectory(dir, OciLayoutFiles(entries));

    /// <summary>A tar of an OCI image layout (what <c>skopeo copy … oci-archive:</c> writes).</summary>
    public static void OciArchive(string tarPath, params OciEntry[] entries) => WriteTar(tarPath, OciLayoutFiles(entries));

    /// <summary>Gzips a file (one member, no name, mtime 0) to <c>path + ".gz"</c> and returns that path.</summary>
    public static string Gzip(string path)
    {
        var target = path + ".gz";
        using var input = File.OpenRead(path);
        using var output = File.Create(target);
        using var gz = new GZipStream(output, CompressionLevel.Optimal);
        input.CopyTo(gz);
        return target;
    }

    public static SortedDictionary<string, byte[]> DockerSaveLegacyFiles(IEnumerable<BuiltImage> images)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var manifest = new List<(string Config, IReadOnlyList<string> Tags, List<string> Layers)>();
        var repositories = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var image in images)
        {
            var configHex = image.ConfigDigest[7..];
            files[configHex + ".json"] = image.ConfigBytes;
            var parent = "";
            var layerPaths = new List<string>();
            foreach (var layer in image.Layers)
            {
                var id = Hex(parent + " " + layer.DiffId);
                files[id + "/VERSION"] = "1.0"u8.ToArray();
                files[id + "/json"] = Json.Write(w =>
                {
                    w.WriteStartObject();
                    w.WriteString("id", id);
                    if (parent.Length > 0)
                    {
                        w.WriteString("parent", parent);
                    }
                    w.WriteString("created", "0001-01-01T00:00:00Z");
                    w.WriteString("os", image.Os);
                    w.WriteEndObject();
                });
                files[id + "/layer.tar"] = layer.Uncompressed;
                layerPaths.Add(id + "/layer.tar");
                parent = id;
            }
            manifest.Add((configHex + ".json", image.RepoTags, layerPaths));
            foreach (var tag in image.RepoTags)
            {
                var (repo, t) = SplitTag(tag);
                if (!repositories.TryGetValue(repo, out var tags))
                {
                    repositories[repo] = tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
                }
                tags[t] = parent;
            }
        }
        files["manifest.json"] = ManifestJson(manifest);
        files["repositories"] = RepositoriesJson(repositories);
        return files;
    }

    public static SortedDictionary<string, byte[]> DockerSave25Files(IEnumerable<BuiltImage> images)
    {
        var list = images.ToList();
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var manifest = new List<(string Config, IReadOnlyList<string> Tags, List<string> Layers)>();
        var repositories = new SortedDictionary<string, SortedDictionary<string, string>>(StringComparer.Ordinal);
        var indexEntries = new List<Action<System.Text.Json.Utf8JsonWriter>>();
        foreach (var image in list)
        {
            AddBlobs(files, image);
            manifest.Add(("blobs/sha256/" + image.ConfigDigest[7..], image.RepoTags, image.Layers.Select(l => "blobs/sha256/" + l.Digest[7..]).ToList()));
            foreach (var tag in image.RepoTags)
            {
                var (repo, t) = SplitTag(tag);
                if (!repositories.TryGetValue(repo, out var tags))
                {
                    repositories[repo] = tags = new SortedDictionary<string, string>(StringComparer.Ordinal);
                }
                tags[t] = image.Layers.Count > 0 ? image.Layers[^1].Digest[7..] : "";
                var annotations = new SortedDictionary<string, string>(StringComparer.Ordinal)
                {
                    ["io.containerd.image.name"] = FullName(repo) + ":" + t,
                    [OciMediaTypes.RefNameAnnotation] = t,
                };
                indexEntries.Add(w => Json.Descriptor(w, image.ManifestMediaType, image.ManifestDigest, image.ManifestBytes.Length, null, annotations));
            }
            if (image.RepoTags.Count == 0)
            {
                indexEntries.Add(w => Json.Descriptor(w, image.ManifestMediaType, image.ManifestDigest, image.ManifestBytes.Length, null, null));
            }
        }
        files["index.json"] = IndexJson(indexEntries);
        files["oci-layout"] = Encoding.UTF8.GetBytes(OciLayoutFile);
        files["manifest.json"] = ManifestJson(manifest);
        files["repositories"] = RepositoriesJson(repositories);
        return files;
    }

    public static SortedDictionary<string, byte[]> OciLayoutFiles(IEnumerable<OciEntry> entries)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var indexEntries = new List<Action<System.Text.Json.Utf8JsonWriter>>();
        foreach (var entry in entries)
        {
            var refs = entry.RefNames.Count == 0 ? [null] : entry.RefNames.Select(r => (string?)r).ToList();
            if (entry.Image is { } image)
            {
                AddBlobs(files, image);
                foreach (var r in refs)
                {
                    indexEntries.Add(w => Json.Descriptor(w, image.ManifestMediaType, image.ManifestDigest, image.ManifestBytes.Length, null, RefAnnotation(r)));
                }
            }
            else if (entry.Index is { } index)
            {
                foreach (var p in index.Platforms)
                {
                    AddBlobs(files, p);
                }
                if (entry.Nested)
                {
                    files["blobs/sha256/" + index.Digest[7..]] = index.IndexBytes;
                    foreach (var r in refs)
                    {
                        indexEntries.Add(w => Json.Descriptor(w, index.MediaType, index.Digest, index.IndexBytes.Length, null, RefAnnotation(r)));
                    }
                }
                else
                {
                    foreach (var r in refs)
                    {
                        foreach (var p in index.Platforms)
                        {
                            indexEntries.Add(w => Json.Descriptor(w, p.ManifestMediaType, p.ManifestDigest, p.ManifestBytes.Length, p, RefAnnotation(r)));
                        }
                    }
                }
            }
        }
        files["index.json"] = IndexJson(indexEntries);
        files["oci-layout"] = Encoding.UTF8.GetBytes(OciLayoutFile);
        return files;
    }

    /// <summary>Writes files (relative paths, '/' separated) as a tar with parent directory entries, in sorted order.</summary>
    public static void WriteTar(string path, IReadOnlyDictionary<string, byte[]> files)
    {
        var tar = new LayerBuilder(implicitParents: true);
        foreach (var (name, bytes) in files.OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            tar.File(name, bytes);
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null)
        {
            Directory.CreateDirectory(dir);
        }
        File.WriteAllBytes(path, tar.ToTar());
    }

    public static void WriteDirectory(string dir, IReadOnlyDictionary<string, byte[]> files)
    {
        foreach (var (name, bytes) in files)
        {
            var full = Path.Combine(dir, name);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllBytes(full, bytes);
        }
    }

    /// <summary>"base:1.0" → ("base", "1.0"); "reg:5000/a/b" → ("reg:5000/a/b", "latest").</summary>
    public static (string Repository, string Tag) SplitTag(string repoTag)
    {
        var colon = repoTag.LastIndexOf(':');
        return colon > repoTag.LastIndexOf('/') ? (repoTag[..colon], repoTag[(colon + 1)..]) : (repoTag, "latest");
    }

    /// <summary>The Docker Hub normalized name: "base" → "docker.io/library/base".</summary>
    public static string FullName(string repository)
    {
        var slash = repository.IndexOf('/');
        if (slash < 0)
        {
            return "docker.io/library/" + repository;
        }
        var first = repository[..slash];
        return first.Contains('.') || first.Contains(':') || first == "localhost" ? repository : "docker.io/" + repository;
    }

    private static void AddBlobs(SortedDictionary<string, byte[]> files, BuiltImage image)
    {
        files["blobs/sha256/" + image.ManifestDigest[7..]] = image.ManifestBytes;
        foreach (var (digest, bytes) in image.Blobs)
        {
            files["blobs/sha256/" + digest[7..]] = bytes;
        }
    }

    private static IReadOnlyDictionary<string, string>? RefAnnotation(string? refName) =>
        refName is null ? null : new Dictionary<string, string> { [OciMediaTypes.RefNameAnnotation] = refName };

    private static byte[] IndexJson(List<Action<System.Text.Json.Utf8JsonWriter>> entries) => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", 2);
        w.WriteString("mediaType", OciMediaTypes.Index);
        w.WriteStartArray("manifests");
        foreach (var e in entries)
        {
            e(w);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static byte[] ManifestJson(List<(string Config, IReadOnlyList<string> Tags, List<string> Layers)> manifest) => Json.Write(w =>
    {
        w.WriteStartArray();
        foreach (var (config, tags, layers) in manifest)
        {
            w.WriteStartObject();
            w.WriteString("Config", config);
            if (tags.Count > 0)
            {
                w.WriteStartArray("RepoTags");
                foreach (var t in tags)
                {
                    w.WriteStringValue(t);
                }
                w.WriteEndArray();
            }
            else
            {
                w.WriteNull("RepoTags");
            }
            w.WriteStartArray("Layers");
            foreach (var l in layers)
            {
                w.WriteStringValue(l);
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    });

    private static byte[] RepositoriesJson(SortedDictionary<string, SortedDictionary<string, string>> repositories) => Json.Write(w =>
    {
        w.WriteStartObject();
        foreach (var (repo, tags) in repositories)
        {
            w.WriteStartObject(repo);
            foreach (var (tag, id) in tags)
            {
                w.WriteString(tag, id);
            }
            w.WriteEndObject();
        }
        w.WriteEndObject();
    });

    private static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
