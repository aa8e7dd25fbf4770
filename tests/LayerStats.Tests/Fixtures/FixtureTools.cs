using System.Diagnostics;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text.Json;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Fixtures;

/// <summary>Independent readers for the builder's tests: external tools (skopeo, umoci, python3 tarfile) and plain decompression.</summary>
internal static class FixtureTools
{
    private static readonly JsonSerializerOptions _jsonOptions = new() { PropertyNameCaseInsensitive = true };

    public static string Sha256(byte[] data) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(data));

    /// <summary>Decompresses by magic bytes: gzip (all members), zstd, or returns the bytes as they are.</summary>
    public static byte[] Decompress(byte[] blob)
    {
        using var input = new MemoryStream(blob);
        using var output = new MemoryStream();
        if (blob.Length >= 2 && blob[0] == 0x1f && blob[1] == 0x8b)
        {
            using var gz = new GZipStream(input, CompressionMode.Decompress);
            gz.CopyTo(output);
        }
        else if (blob.Length >= 4 && blob[0] == 0x28 && blob[1] == 0xb5 && blob[2] == 0x2f && blob[3] == 0xfd)
        {
            using var z = new ZstdSharp.DecompressionStream(input);
            z.CopyTo(output);
        }
        else
        {
            return blob;
        }
        return output.ToArray();
    }

    /// <summary>The external tool, or a failed test that says how to install it (never a skip).</summary>
    public static string Require(string tool)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            var path = Path.Combine(dir, tool);
            if (File.Exists(path))
            {
                return path;
            }
        }
        Assert.Fail($"'{tool}' is not installed; these tests use it as an independent reader. Install it with: apt-get update && apt-get install -y skopeo umoci python3 (the CI script does).");
        return "";
    }

    public static (int ExitCode, string Stdout, string Stderr) Run(string tool, params string[] args)
    {
        var psi = new ProcessStartInfo(Require(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Runs a tool and fails the test with its stderr if it fails.</summary>
    public static string RunOk(string tool, params string[] args)
    {
        var (code, stdout, stderr) = Run(tool, args);
        Assert.True(code == 0, $"{tool} {string.Join(' ', args)} exited {code}: {stderr}");
        return stdout;
    }

    public static JsonElement SkopeoRaw(string reference) => JsonDocument.Parse(RunOk("skopeo", "inspect", "--raw", reference)).RootElement;

    /// <summary>
    /// Python's tarfile module (an independent tar reader that understands GNU and PAX sparse files) lists a tar:
    /// name, type ('0' regular, '1' hardlink, ...), size, linkname, mode, devmajor, devminor, sha256 of the content.
    /// </summary>
    public static IReadOnlyList<PyEntry> PythonTarList(byte[] tar)
    {
        var path = Path.Combine(TempDir.Create().Path, "layer.tar");
        File.WriteAllBytes(path, tar);
        const string script = """
import hashlib, json, sys, tarfile
out = []
with tarfile.open(sys.argv[1], 'r:') as t:
    for m in t.getmembers():
        data = t.extractfile(m).read() if m.isreg() else b''
        out.append({'name': m.name, 'type': m.type.decode(), 'size': m.size, 'linkname': m.linkname, 'mode': m.mode,
                    'devmajor': m.devmajor, 'devminor': m.devminor, 'sha256': 'sha256:' + hashlib.sha256(data).hexdigest(),
                    'sparse': m.sparse is not None})
print(json.dumps(out))
""";
        var json = RunOk("python3", "-c", script, path);
        return JsonSerializer.Deserialize<List<PyEntry>>(json, _jsonOptions)!;
    }

    public sealed record PyEntry(string Name, string Type, long Size, string Linkname, int Mode, int Devmajor, int Devminor, string Sha256, bool Sparse);
}

/// <summary>A temporary directory removed at the end of the test run's process (best effort) — not a disposable, to keep call sites short.</summary>
internal sealed class TempDir
{
    private static readonly string _root = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "layerstats-fixture-tests-" + Environment.ProcessId);

    static TempDir() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    };

    private TempDir(string path) => Path = path;

    public string Path { get; }

    public static TempDir Create()
    {
        var path = System.IO.Path.Combine(_root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(path);
        return new TempDir(path);
    }

    public string this[string name] => System.IO.Path.Combine(Path, name);
}

/// <summary>Checks an OCI layout or Docker 25 layout's blobs the way a careful reader would.</summary>
internal static class LayoutChecks
{
    /// <summary>
    /// Walks index.json → (index →) manifests → config + layers in a layout given as file map; asserts every blob exists,
    /// its sha256 and size match the descriptor, and each layer's decompressed sha256 is the config's diff_id.
    /// Returns the platform manifests reached (digest → manifest).
    /// </summary>
    public static Dictionary<string, JsonElement> VerifyOciLayout(IReadOnlyDictionary<string, byte[]> files)
    {
        Assert.Equal("{\"imageLayoutVersion\":\"1.0.0\"}", System.Text.Encoding.UTF8.GetString(files["oci-layout"]));
        var manifests = new Dictionary<string, JsonElement>();
        var index = JsonDocument.Parse(files["index.json"]).RootElement;
        Assert.Equal(2, index.GetProperty("schemaVersion").GetInt32());
        VisitIndex(files, index, manifests);
        Assert.NotEmpty(manifests);
        return manifests;
    }

    private static void VisitIndex(IReadOnlyDictionary<string, byte[]> files, JsonElement index, Dictionary<string, JsonElement> manifests)
    {
        foreach (var d in index.GetProperty("manifests").EnumerateArray())
        {
            var bytes = Blob(files, d);
            var doc = JsonDocument.Parse(bytes).RootElement;
            var mediaType = d.GetProperty("mediaType").GetString();
            Assert.Equal(mediaType, doc.GetProperty("mediaType").GetString());
            if (mediaType is OciMediaTypes.Index or OciMediaTypes.DockerManifestList)
            {
                VisitIndex(files, doc, manifests);
                continue;
            }
            var configBytes = Blob(files, doc.GetProperty("config"));
            var config = JsonDocument.Parse(configBytes).RootElement;
            var diffIds = config.GetProperty("rootfs").GetProperty("diff_ids").EnumerateArray().Select(x => x.GetString()).ToList();
            var layers = doc.GetProperty("layers").EnumerateArray().ToList();
            Assert.Equal(diffIds.Count, layers.Count);
            for (var i = 0; i < layers.Count; i++)
            {
                Assert.Equal(diffIds[i], FixtureTools.Sha256(FixtureTools.Decompress(Blob(files, layers[i]))));
            }
            var nonEmpty = config.GetProperty("history").EnumerateArray().Count(h => !h.TryGetProperty("empty_layer", out var e) || !e.GetBoolean());
            Assert.Equal(layers.Count, nonEmpty);
            manifests[d.GetProperty("digest").GetString()!] = doc;
        }
    }

    public static byte[] Blob(IReadOnlyDictionary<string, byte[]> files, JsonElement descriptor)
    {
        var digest = descriptor.GetProperty("digest").GetString()!;
        Assert.True(files.TryGetValue("blobs/sha256/" + digest[7..], out var bytes), $"blob {digest} is missing");
        Assert.Equal(digest, FixtureTools.Sha256(bytes));
        Assert.Equal(descriptor.GetProperty("size").GetInt64(), bytes.LongLength);
        return bytes;
    }

    public static SortedDictionary<string, byte[]> ReadDirectory(string dir)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            files[Path.GetRelativePath(dir, f).Replace('\\', '/')] = File.ReadAllBytes(f);
        }
        return files;
    }
}
