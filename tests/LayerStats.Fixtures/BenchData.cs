using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LayerStats.Fixtures;

/// <summary>
/// The whole-scan benchmark's data set (<c>bench-data DIR [--scale N] [--seed S]</c>): a family of 8 images (a
/// 3-layer base, a runtime image on it, 6 app images adding 1–2 layers each; 12 distinct layers, ~0.75 GB of tar at
/// scale 1), written as one OCI layout directory per image, twice: <c>DIR/gzip/IMAGE</c> (tar+gzip layers,
/// <see cref="CompressionLevel.Optimal"/>) and <c>DIR/zstd/IMAGE</c> (tar+zstd, level 3). Layer blobs are written
/// once under <c>DIR/blobs/VARIANT</c> and hard-linked into every layout that uses them.
/// Each layer's tar is streamed: TarWriter → SHA-256 (diff_id) → gzip and zstd compressors → SHA-256 (digest) →
/// file; nothing holds a layer in memory. File contents are slices of two 32 MiB pools (text-like, binary-like),
/// sizes log-normal per layer profile; upper layers copy some lower-layer files (file-level duplicates),
/// overwrite a few paths and delete a few with whiteouts. Deterministic for a given seed and scale.
/// Also writes <c>DIR/layers.tsv</c> (one row per distinct layer) and <c>DIR/layers-gzip.txt</c> /
/// <c>DIR/layers-zstd.txt</c> (one distinct layer blob path a line), for the baselines.
/// </summary>
public static class BenchData
{
    private const int PoolSize = 32 << 20;
    private const int MaxFile = 12 << 20;
    private static readonly DateTimeOffset s_epoch = new(2024, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private sealed record Profile(double MedianBytes, double Sigma);

    private static readonly Profile s_os = new(1800, 2.0);
    private static readonly Profile s_libs = new(6000, 2.3);
    private static readonly Profile s_runtime = new(4000, 2.4);
    private static readonly Profile s_app = new(3000, 2.2);

    private sealed record LayerSpec(string Name, Profile Profile, double MiB, string[] Roots, string[] Lower);

    private sealed record ImageSpec(string Name, string[] Layers);

    private static readonly string[] s_base = ["base-os", "base-libs", "base-tools"];
    private static readonly string[] s_runtimeStack = [.. s_base, "runtime"];

    private static readonly LayerSpec[] s_layers =
    [
        new("base-os", s_os, 100, ["etc", "usr/bin", "usr/sbin", "usr/share/doc", "usr/share/man", "usr/share/locale", "var/lib/dpkg/info", "usr/lib/x86_64-linux-gnu"], []),
        new("base-libs", s_libs, 90, ["usr/lib/x86_64-linux-gnu", "usr/include", "usr/share/perl5", "usr/lib/python3/dist-packages"], ["base-os"]),
        new("base-tools", s_os, 50, ["usr/local/bin", "usr/share/git-core", "usr/share/vim", "usr/libexec"], ["base-os", "base-libs"]),
        new("runtime", s_runtime, 120, ["opt/runtime/lib", "opt/runtime/bin", "opt/runtime/include", "opt/runtime/share"], s_base),
        new("web-deps", s_app, 50, ["srv/web/node_modules"], s_base),
        new("web-app", s_app, 20, ["srv/web/app", "srv/web/static"], [.. s_base, "web-deps"]),
        new("worker", s_app, 40, ["opt/worker"], s_base),
        new("cli", s_app, 25, ["usr/local/cli"], s_base),
        new("api-deps", s_app, 60, ["srv/api/site-packages"], s_runtimeStack),
        new("api-app", s_app, 20, ["srv/api/app"], [.. s_runtimeStack, "api-deps"]),
        new("batch", s_app, 80, ["opt/batch"], s_runtimeStack),
        new("ml", s_app, 70, ["opt/ml/models", "opt/ml/lib"], s_runtimeStack),
    ];

    private static readonly ImageSpec[] s_images =
    [
        new("base", s_base),
        new("runtime", s_runtimeStack),
        new("web", [.. s_base, "web-deps", "web-app"]),
        new("worker", [.. s_base, "worker"]),
        new("cli", [.. s_base, "cli"]),
        new("api", [.. s_runtimeStack, "api-deps", "api-app"]),
        new("batch", [.. s_runtimeStack, "batch"]),
        new("ml", [.. s_runtimeStack, "ml"]),
    ];

    private static readonly string[] s_textExt = ["", ".conf", ".txt", ".py", ".h", ".json", ".md", ".sh", ".js", ".xml", ".pl", ".1.gz"];
    private static readonly string[] s_binExt = ["", ".so", ".so.1", ".so.6", ".bin", ".png", ".pyc", ".a", ".jar", ".o"];

    public static int Run(IReadOnlyList<string> args)
    {
        if (args.Count < 1)
        {
            Console.Error.WriteLine("usage: LayerStats.Fixtures bench-data DIR [--scale N] [--seed S]");
            return 2;
        }

        string dir = Path.GetFullPath(args[0]);
        double scale = 1;
        int seed = 42;
        for (int i = 1; i + 1 < args.Count; i += 2)
        {
            switch (args[i])
            {
                case "--scale":
                    scale = double.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                case "--seed":
                    seed = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                    break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}");
                    return 2;
            }
        }

        var clock = System.Diagnostics.Stopwatch.StartNew();
        Write(dir, scale, seed);
        Console.Error.WriteLine($"bench-data: wrote {dir} in {clock.Elapsed.TotalSeconds:0.0} s");
        return 0;
    }

    /// <summary>One layer as written: its tar and both blobs.</summary>
    public sealed record LayerOutput(string Name, long TarBytes, int Entries, int Files, string DiffId, string GzipDigest, long GzipSize, string ZstdDigest, long ZstdSize);

    public static IReadOnlyList<LayerOutput> Write(string dir, double scale, int seed)
    {
        if (Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }

        var pools = new Pools(seed);
        var plans = new Dictionary<string, List<Entry>>();
        for (int i = 0; i < s_layers.Length; i++)
        {
            var spec = s_layers[i];
            plans[spec.Name] = Plan(spec, scale, new Random(unchecked((seed * 7919) + (i * 104729) + 1)), spec.Lower.Select(l => plans[l]).ToList());
        }

        Directory.CreateDirectory(Path.Combine(dir, "blobs", "gzip"));
        Directory.CreateDirectory(Path.Combine(dir, "blobs", "zstd"));
        var outputs = new LayerOutput[s_layers.Length];
        // Biggest first, one layer per core: generation is compression-bound.
        var order = Enumerable.Range(0, s_layers.Length).OrderByDescending(i => s_layers[i].MiB).ToArray();
        Parallel.ForEach(order, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, i =>
        {
            outputs[i] = WriteLayer(dir, s_layers[i], i, plans[s_layers[i].Name], pools);
            Console.Error.WriteLine($"  {s_layers[i].Name}: tar {outputs[i].TarBytes / 1e6:0.0} MB, {outputs[i].Files} files, gzip {outputs[i].GzipSize / 1e6:0.0} MB, zstd {outputs[i].ZstdSize / 1e6:0.0} MB");
        });

        var byName = outputs.ToDictionary(o => o.Name);
        foreach (var variant in new[] { "gzip", "zstd" })
        {
            var firstUse = new Dictionary<string, string>();
            foreach (var image in s_images)
            {
                string layout = Path.Combine(dir, variant, image.Name);
                WriteLayout(dir, layout, variant, image, image.Layers.Select(l => byName[l]).ToList());
                foreach (var layer in image.Layers)
                {
                    var o = byName[layer];
                    string hex = (variant == "gzip" ? o.GzipDigest : o.ZstdDigest)[7..];
                    firstUse.TryAdd(layer, Path.Combine(layout, "blobs", "sha256", hex));
                }
            }

            File.WriteAllLines(Path.Combine(dir, $"layers-{variant}.txt"), s_layers.Select(l => firstUse[l.Name]));
        }

        var tsv = new StringBuilder("layer\ttar_bytes\tentries\tfiles\tdiff_id\tgzip_digest\tgzip_bytes\tzstd_digest\tzstd_bytes\n");
        foreach (var o in outputs)
        {
            tsv.Append(CultureInfo.InvariantCulture, $"{o.Name}\t{o.TarBytes}\t{o.Entries}\t{o.Files}\t{o.DiffId}\t{o.GzipDigest}\t{o.GzipSize}\t{o.ZstdDigest}\t{o.ZstdSize}\n");
        }

        File.WriteAllText(Path.Combine(dir, "layers.tsv"), tsv.ToString());
        File.WriteAllText(Path.Combine(dir, "images.txt"), string.Join('\n', s_images.Select(i => $"{i.Name}\t{string.Join(' ', i.Layers)}")) + "\n");
        return outputs;
    }

    // ---- planning -------------------------------------------------------------------------------------------

    private enum Kind
    {
        Directory,
        File,
        Symlink,
        Hardlink,
    }

    /// <summary>An entry to write; a file's bytes are <c>Size</c> bytes of pool <c>Pool</c> (0 text, 1 binary) from <c>Offset</c>.</summary>
    private sealed record Entry(string Path, Kind Kind, int Pool = 0, int Offset = 0, int Size = 0, string? Link = null, bool Exec = false);

    private static List<Entry> Plan(LayerSpec spec, double scale, Random rnd, List<List<Entry>> lower)
    {
        var entries = new List<Entry>();
        var dirs = new HashSet<string>(StringComparer.Ordinal);
        var paths = new HashSet<string>(StringComparer.Ordinal);
        var lowerFiles = lower.SelectMany(l => l).Where(e => e.Kind == Kind.File && !e.Path.Contains("/.wh.", StringComparison.Ordinal)).ToList();
        long target = (long)(spec.MiB * scale * 1024 * 1024);
        long content = 0;
        string current = "";
        int filesInDir = 0;

        void AddDir(string path)
        {
            int slash = path.LastIndexOf('/');
            if (slash > 0)
            {
                AddDir(path[..slash]);
            }

            if (dirs.Add(path))
            {
                paths.Add(path);
                entries.Add(new Entry(path + "/", Kind.Directory));
            }
        }

        // Whiteouts and overwrites of lower-layer paths (hidden bytes), a handful per layer.
        if (lowerFiles.Count > 0)
        {
            for (int i = 0; i < 8; i++)
            {
                var victim = lowerFiles[rnd.Next(lowerFiles.Count)];
                int slash = victim.Path.LastIndexOf('/');
                string parent = victim.Path[..slash];
                string wh = $"{parent}/.wh.{victim.Path[(slash + 1)..]}";
                if (paths.Add(wh))
                {
                    AddDir(parent);
                    entries.Add(new Entry(wh, Kind.File));
                }
            }

            for (int i = 0; i < Math.Max(4, (int)(40 * scale)); i++)
            {
                var victim = lowerFiles[rnd.Next(lowerFiles.Count)];
                if (paths.Add(victim.Path))
                {
                    AddDir(victim.Path[..victim.Path.LastIndexOf('/')]);
                    int size = Math.Max(1, victim.Size + rnd.Next(-victim.Size / 4, victim.Size / 4 + 1));
                    entries.Add(new Entry(victim.Path, Kind.File, victim.Pool, rnd.Next(PoolSize - size), size, Exec: victim.Exec));
                    content += size;
                }
            }
        }

        while (content < target)
        {
            if (current.Length == 0 || filesInDir > 5 + rnd.Next(60))
            {
                string root = spec.Roots[rnd.Next(spec.Roots.Length)];
                current = root + "/" + Pools.Word(rnd);
                if (rnd.Next(3) == 0)
                {
                    current += "/" + Pools.Word(rnd);
                }

                if (paths.Contains(current))
                {
                    current = "";
                    continue;
                }

                AddDir(current);
                filesInDir = 0;
            }

            filesInDir++;
            double r = rnd.NextDouble();
            if (r < 0.05 && entries.Count > 0)
            {
                // A symlink to a sibling (libfoo.so -> libfoo.so.1 style).
                string target2 = Pools.Word(rnd) + ".so.1";
                string link = $"{current}/{Pools.Word(rnd)}.so";
                if (paths.Add(link))
                {
                    entries.Add(new Entry(link, Kind.Symlink, Link: target2));
                }

                continue;
            }

            if (r < 0.053)
            {
                var earlier = entries.FindLast(e => e.Kind == Kind.File && e.Size > 0);
                string link = $"{current}/{Pools.Word(rnd)}-hl";
                if (earlier is not null && paths.Add(link))
                {
                    entries.Add(new Entry(link, Kind.Hardlink, Link: earlier.Path));
                }

                continue;
            }

            if (r < 0.093 && lowerFiles.Count > 0)
            {
                // A vendored copy of a lower-layer file: same bytes at another path.
                var copy = lowerFiles[rnd.Next(lowerFiles.Count)];
                string name = copy.Path[(copy.Path.LastIndexOf('/') + 1)..];
                string path = $"{current}/{name}";
                if (paths.Add(path))
                {
                    entries.Add(copy with { Path = path });
                    content += copy.Size;
                }

                continue;
            }

            int size = r < 0.12 ? 0 : (int)Math.Min(MaxFile, Math.Exp(Math.Log(spec.Profile.MedianBytes) + (spec.Profile.Sigma * Normal(rnd))));
            bool binary = size < 32 * 1024 ? rnd.Next(100) < 8 : rnd.Next(100) < 65;
            string ext = binary ? s_binExt[rnd.Next(s_binExt.Length)] : s_textExt[rnd.Next(s_textExt.Length)];
            string file = $"{current}/{Pools.Word(rnd)}{(rnd.Next(3) == 0 ? "-" + Pools.Word(rnd) : "")}{ext}";
            if (!paths.Add(file))
            {
                continue;
            }

            entries.Add(new Entry(file, Kind.File, binary ? 1 : 0, rnd.Next(PoolSize - size), size, Exec: binary && ext.Length == 0));
            content += size;
        }

        return entries;
    }

    private static double Normal(Random rnd)
    {
        double u1 = 1.0 - rnd.NextDouble();
        double u2 = rnd.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    // ---- writing --------------------------------------------------------------------------------------------

    private static LayerOutput WriteLayer(string dir, LayerSpec spec, int index, List<Entry> plan, Pools pools)
    {
        string gzTmp = Path.Combine(dir, "blobs", "gzip", $".tmp-{spec.Name}");
        string zstTmp = Path.Combine(dir, "blobs", "zstd", $".tmp-{spec.Name}");
        var mtime = s_epoch.AddDays(index);
        int files = 0;
        long tarBytes;
        string diffId, gzDigest, zstDigest;
        long gzSize, zstSize;
        using (var gzFile = new FileStream(gzTmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        using (var zstFile = new FileStream(zstTmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
        {
            var gzHash = new HashingWriteStream(gzFile);
            var zstHash = new HashingWriteStream(zstFile);
            var gz = new GZipStream(gzHash, CompressionLevel.Optimal, leaveOpen: true);
            var zst = new ZstdSharp.CompressionStream(zstHash, 3, 0, leaveOpen: true);
            var tar = new HashingWriteStream(new TeeWriteStream(gz, zst));
            using (var writer = new TarWriter(tar, TarEntryFormat.Ustar, leaveOpen: true))
            {
                foreach (var e in plan)
                {
                    var entry = e.Kind switch
                    {
                        Kind.Directory => new UstarTarEntry(TarEntryType.Directory, e.Path) { Mode = Mode(0b111_101_101) },
                        Kind.Symlink => new UstarTarEntry(TarEntryType.SymbolicLink, e.Path) { LinkName = e.Link!, Mode = Mode(0b111_111_111) },
                        Kind.Hardlink => new UstarTarEntry(TarEntryType.HardLink, e.Path) { LinkName = e.Link!, Mode = Mode(0b110_100_100) },
                        _ => new UstarTarEntry(TarEntryType.RegularFile, e.Path)
                        {
                            Mode = Mode(e.Exec ? 0b111_101_101 : 0b110_100_100),
                            DataStream = new MemoryStream(pools.Get(e.Pool), e.Offset, e.Size, writable: false),
                        },
                    };
                    entry.ModificationTime = mtime;
                    entry.Uid = 0;
                    entry.Gid = 0;
                    entry.UserName = "root";
                    entry.GroupName = "root";
                    writer.WriteEntry(entry);
                    if (e.Kind == Kind.File)
                    {
                        files++;
                    }
                }
            }

            gz.Dispose();
            zst.Dispose();
            tarBytes = tar.Length;
            diffId = tar.Digest();
            gzDigest = gzHash.Digest();
            gzSize = gzHash.Length;
            zstDigest = zstHash.Digest();
            zstSize = zstHash.Length;
        }

        File.Move(gzTmp, Path.Combine(dir, "blobs", "gzip", gzDigest[7..]));
        File.Move(zstTmp, Path.Combine(dir, "blobs", "zstd", zstDigest[7..]));
        return new LayerOutput(spec.Name, tarBytes, plan.Count, files, diffId, gzDigest, gzSize, zstDigest, zstSize);
    }

    private static UnixFileMode Mode(int bits) => (UnixFileMode)bits;

    private static void WriteLayout(string dir, string layout, string variant, ImageSpec image, List<LayerOutput> layers)
    {
        string blobs = Path.Combine(layout, "blobs", "sha256");
        Directory.CreateDirectory(blobs);
        File.WriteAllText(Path.Combine(layout, "oci-layout"), ArchiveWriter.OciLayoutFile);
        string layerType = variant == "gzip" ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar+zstd";
        var config = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteString("created", s_epoch.AddDays(layers.Count).ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
            w.WriteString("architecture", "amd64");
            w.WriteString("os", "linux");
            w.WriteStartObject("config");
            w.WriteStartArray("Env");
            w.WriteStringValue("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
            w.WriteEndArray();
            w.WriteStartArray("Cmd");
            w.WriteStringValue("/usr/local/bin/" + image.Name);
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("rootfs");
            w.WriteString("type", "layers");
            w.WriteStartArray("diff_ids");
            foreach (var l in layers)
            {
                w.WriteStringValue(l.DiffId);
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartArray("history");
            foreach (var l in layers)
            {
                w.WriteStartObject();
                w.WriteString("created_by", "bench-data layer " + l.Name);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        string configDigest = AddBlob(blobs, config);
        var manifest = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", "application/vnd.oci.image.manifest.v1+json");
            w.WritePropertyName("config");
            Json.Descriptor(w, "application/vnd.oci.image.config.v1+json", configDigest, config.Length, null, null);
            w.WriteStartArray("layers");
            foreach (var l in layers)
            {
                Json.Descriptor(w, layerType, variant == "gzip" ? l.GzipDigest : l.ZstdDigest, variant == "gzip" ? l.GzipSize : l.ZstdSize, null, null);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
        string manifestDigest = AddBlob(blobs, manifest);
        foreach (var l in layers)
        {
            string hex = (variant == "gzip" ? l.GzipDigest : l.ZstdDigest)[7..];
            LinkOrCopy(Path.Combine(dir, "blobs", variant, hex), Path.Combine(blobs, hex));
        }

        var index = Json.Write(w =>
        {
            w.WriteStartObject();
            w.WriteNumber("schemaVersion", 2);
            w.WriteString("mediaType", "application/vnd.oci.image.index.v1+json");
            w.WriteStartArray("manifests");
            Json.Descriptor(w, "application/vnd.oci.image.manifest.v1+json", manifestDigest, manifest.Length, null,
                new Dictionary<string, string> { [OciMediaTypes.RefNameAnnotation] = "1.0", ["io.containerd.image.name"] = $"bench.example/{image.Name}:1.0" });
            w.WriteEndArray();
            w.WriteEndObject();
        });
        File.WriteAllBytes(Path.Combine(layout, "index.json"), index);
    }

    private static string AddBlob(string blobs, byte[] bytes)
    {
        string hex = Convert.ToHexStringLower(SHA256.HashData(bytes));
        File.WriteAllBytes(Path.Combine(blobs, hex), bytes);
        return "sha256:" + hex;
    }

    [DllImport("libc", EntryPoint = "link", SetLastError = true)]
    private static extern int Link(string existing, string created);

    private static void LinkOrCopy(string source, string target)
    {
        bool linked = false;
        try
        {
            linked = !OperatingSystem.IsWindows() && Link(source, target) == 0;
        }
        catch (DllNotFoundException)
        {
        }
        catch (EntryPointNotFoundException)
        {
        }

        if (!linked)
        {
            File.Copy(source, target, overwrite: true);
        }
    }

    /// <summary>The content pools: 32 MiB of text-like lines and 32 MiB of binary-like bytes (code-like, random, zero runs, repeats).</summary>
    private sealed class Pools
    {
        private static readonly string[] s_words = MakeWords();
        private readonly byte[] _text;
        private readonly byte[] _binary;

        public Pools(int seed)
        {
            var rnd = new Random(seed);
            _text = Text(rnd);
            _binary = Binary(rnd);
        }

        public byte[] Get(int pool) => pool == 0 ? _text : _binary;

        public static string Word(Random rnd) => s_words[rnd.Next(s_words.Length)];

        private static string[] MakeWords()
        {
            var rnd = new Random(7);
            var words = new HashSet<string>(StringComparer.Ordinal);
            while (words.Count < 3000)
            {
                int len = 2 + rnd.Next(4) + rnd.Next(6);
                words.Add(new string(Enumerable.Range(0, len).Select(_ => (char)('a' + Skewed(rnd, 26))).ToArray()));
            }

            return [.. words.Order(StringComparer.Ordinal)];
        }

        private static int Skewed(Random rnd, int n) => Math.Min(n - 1, (int)(-Math.Log(1 - rnd.NextDouble()) * n / 4));

        private static byte[] Text(Random rnd)
        {
            // Config/code/doc-like lines over a skewed vocabulary: gzip -6 makes ~3.5x of it.
            var sb = new StringBuilder(PoolSize + 256);
            string[] keys = [.. Enumerable.Range(0, 120).Select(_ => Word(rnd))];
            while (sb.Length < PoolSize)
            {
                int indent = rnd.Next(3) * 4;
                sb.Append(' ', indent);
                switch (rnd.Next(6))
                {
                    case 0:
                        sb.Append(keys[Skewed(rnd, keys.Length)]).Append(" = ").Append(TextWord(rnd)).Append('\n');
                        break;
                    case 1:
                        sb.Append("# ");
                        goto default;
                    case 2:
                        sb.Append("if (").Append(keys[Skewed(rnd, keys.Length)]).Append(" != NULL) {\n");
                        break;
                    case 3:
                        sb.Append(keys[Skewed(rnd, keys.Length)]).Append('(').Append(TextWord(rnd)).Append(", ").Append(rnd.Next(100)).Append(");\n");
                        break;
                    default:
                        int n = 3 + rnd.Next(10);
                        for (int i = 0; i < n; i++)
                        {
                            sb.Append(TextWord(rnd)).Append(' ');
                        }

                        sb.Append('\n');
                        break;
                }
            }

            return Encoding.ASCII.GetBytes(sb.ToString(0, PoolSize));
        }

        private static string TextWord(Random rnd) => s_words[Math.Min(s_words.Length - 1, (int)(-Math.Log(1 - rnd.NextDouble()) * 60))];

        private static byte[] Binary(Random rnd)
        {
            // Machine-code-like: skewed byte frequencies, zero runs, short-range repeats, some random runs
            // (hashes, already-compressed assets): gzip -6 makes ~2x of it.
            var b = new byte[PoolSize];
            int at = 0;
            while (at < PoolSize)
            {
                int len = Math.Min(PoolSize - at, 16 + rnd.Next(240));
                int kind = rnd.Next(100);
                var span = b.AsSpan(at, len);
                if (kind < 18)
                {
                    rnd.NextBytes(span);
                }
                else if (kind < 55)
                {
                    for (int i = 0; i < len; i++)
                    {
                        span[i] = (byte)Math.Min(255, (int)(-Math.Log(1 - rnd.NextDouble()) * 10));
                    }
                }
                else if (kind < 65)
                {
                    span.Clear();
                }
                else if (at > 4096)
                {
                    int from = at - 1 - rnd.Next(Math.Min(at - 1, 16 * 1024));
                    len = Math.Min(len, at - from);
                    b.AsSpan(from, len).CopyTo(b.AsSpan(at, len));
                }

                at += len;
            }

            return b;
        }
    }

    /// <summary>A write-only pass-through that counts and SHA-256s the bytes written.</summary>
    private sealed class HashingWriteStream(Stream inner) : Stream
    {
        private readonly IncrementalHash _sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        private long _length;

        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => _length;

        public override long Position { get => _length; set => throw new NotSupportedException(); }

        public string Digest() => "sha256:" + Convert.ToHexStringLower(_sha.GetCurrentHash());

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            _sha.AppendData(buffer);
            _length += buffer.Length;
            inner.Write(buffer);
        }

        public override void Flush() => inner.Flush();

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }

    private sealed class TeeWriteStream(Stream a, Stream b) : Stream
    {
        public override bool CanRead => false;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            a.Write(buffer);
            b.Write(buffer);
        }

        public override void Flush()
        {
            a.Flush();
            b.Flush();
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
