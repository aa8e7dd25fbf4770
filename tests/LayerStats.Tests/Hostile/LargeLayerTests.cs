using System.Diagnostics;
using System.Globalization;
using System.IO.Compression;
using System.IO.Hashing;
using System.Text;
using System.Text.RegularExpressions;
using LayerStats.Fixtures;
using LayerStats.Tests.EndToEnd;
using Xunit.Abstractions;

namespace LayerStats.Tests.Hostile;

/// <summary>
/// Layers too big to build in memory, generated as streams at test time: a million tiny files in one layer, and a
/// 1 GiB file of zeros that gzips to about 1 MB (a "gzip bomb"). Both are written tar → gzip → file in one pass,
/// with the diff_id and digest computed on the way; neither is ever held whole.
/// </summary>
public sealed partial class LargeLayerTests(ITestOutputHelper output)
{
    private const int Directories = 1000;
    private const int FilesPerDirectory = 1000;

    [Fact]
    public void A_million_tiny_files_in_one_layer_are_all_rows()
    {
        using var cli = new CliHarness();
        var clock = Stopwatch.StartNew();
        long contentBytes = 0;
        var blob = WriteGzipLayer(Path.Combine(cli.Dir, "million.tar.gz"), tar =>
        {
            byte[] content = new byte[16];
            for (int d = 0; d < Directories; d++)
            {
                string dir = "f/" + d.ToString("D3", CultureInfo.InvariantCulture);
                tar.Write(TarFormat.HeaderBlock(new TarFormat.Header(dir + "/", TarFormat.TypeDirectory) { Mode = 493 }));
                for (int f = 0; f < FilesPerDirectory; f++)
                {
                    // "<d>/<f>\n": distinct contents of 4 to 8 bytes; every 100th file is empty.
                    int length = f % 100 == 0 ? 0 : Encoding.ASCII.GetBytes($"{d}/{f}\n", content);
                    contentBytes += length;
                    tar.Write(TarFormat.HeaderBlock(new TarFormat.Header(dir + "/" + f.ToString("D3", CultureInfo.InvariantCulture), TarFormat.TypeRegular) { Size = length }));
                    TarFormat.WritePadded(tar, content.AsSpan(0, length));
                }
            }
        });
        string layout = Path.Combine(cli.Dir, "layout");
        string manifest = HostileImages.WriteLayout(layout, blob);
        var generated = clock.Elapsed;

        clock.Restart();
        var (exit, _, stderr) = cli.Scan(layout);
        var scanned = clock.Elapsed;
        output.WriteLine($"generated {blob.Size:N0} compressed bytes in {generated.TotalSeconds:F1} s; scanned in {scanned.TotalSeconds:F1} s");

        Assert.True(exit == 0, stderr);
        var content = cli.Query($"SELECT entries, uncompressed_size FROM layer_contents WHERE diff_id = '{blob.DiffId}'").Rows.Single();
        Assert.Equal(Directories + (Directories * FilesPerDirectory), Convert.ToInt64(content[0]));
        Assert.Equal(Directories * FilesPerDirectory, cli.Scalar($"SELECT count(*) FROM files WHERE diff_id = '{blob.DiffId}' AND kind = 'file'"));
        Assert.Equal(contentBytes, cli.Scalar($"SELECT sum(size)::BIGINT FROM files WHERE diff_id = '{blob.DiffId}'"));
        Assert.Equal(1L, cli.Scalar($"SELECT count(*) FROM images WHERE image_id = '{manifest}' AND layer_count = 1"));
        var summary = cli.Summary();
        Assert.Equal((long)Directories * FilesPerDirectory, Convert.ToInt64(summary["file_count"]));
        // The empty files are the only duplicates, and they have no bytes.
        Assert.Equal(0L, Convert.ToInt64(summary["file_duplicate_bytes"]));
    }

    /// <summary>
    /// 1 GiB of zeros in one file, gzipped to about 1 MB: the scan runs as a child process (as in production) under
    /// /usr/bin/time, whose maximum resident set size must stay far below the bytes the layer expands to.
    /// </summary>
    [Fact]
    public void A_gzip_bomb_of_1_GiB_of_zeros_is_streamed_in_bounded_memory()
    {
        const long size = 1L << 30;
        using var cli = new CliHarness();
        var blob = WriteGzipLayer(Path.Combine(cli.Dir, "bomb.tar.gz"), tar =>
        {
            tar.Write(TarFormat.HeaderBlock(new TarFormat.Header("var/zeros.img", TarFormat.TypeRegular) { Size = size }));
            byte[] zeros = new byte[1 << 20];
            for (long written = 0; written < size; written += zeros.Length)
            {
                tar.Write(zeros);
            }
        }, CompressionLevel.SmallestSize);
        Assert.InRange(blob.Size, 100_000, 2_000_000);
        string layout = Path.Combine(cli.Dir, "layout");
        HostileImages.WriteLayout(layout, blob);

        // Independently: XxHash128 of 1 GiB of zeros, streamed.
        var xxh = new XxHash128();
        byte[] chunk = new byte[1 << 20];
        for (long hashed = 0; hashed < size; hashed += chunk.Length)
        {
            xxh.Append(chunk);
        }

        var (exit, stderr, maxRssKb) = RunChildScan(cli.Database, layout);
        output.WriteLine($"bomb: {blob.Size:N0} compressed bytes; child peak RSS {maxRssKb / 1024.0:F0} MiB");

        Assert.True(exit == 0, stderr);
        var row = cli.Query($"SELECT path, size, xxh128 FROM files WHERE diff_id = '{blob.DiffId}'").Rows.Single();
        Assert.Equal("var/zeros.img", row[0]);
        Assert.Equal(size, Convert.ToInt64(row[1]));
        Assert.Equal(xxh.GetCurrentHashAsUInt128().ToString(CultureInfo.InvariantCulture), row[2]!.ToString());
        Assert.Equal(size + 512 + 1024, cli.Scalar($"SELECT uncompressed_size FROM layers WHERE digest = '{blob.Digest}'"));
        Assert.True(maxRssKb < 300 * 1024, $"peak RSS {maxRssKb} KiB");
    }

    /// <summary>Writes a gzip layer blob by streaming: the tar goes through SHA-256 (diff_id) into gzip, the blob through SHA-256 (digest) to disk.</summary>
    private static HostileImages.BlobFile WriteGzipLayer(string path, Action<Stream> writeEntries, CompressionLevel level = CompressionLevel.Fastest)
    {
        string diffId;
        long tarLength;
        var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        using var blob = new HashingWriteStream(file);
        using (var gzip = new GZipStream(blob, level, leaveOpen: true))
        using (var buffered = new BufferedStream(gzip, 1 << 16))
        using (var tar = new HashingWriteStream(buffered, leaveOpen: true))
        {
            writeEntries(tar);
            TarFormat.WriteEndOfArchive(tar);
            tar.Flush();
            diffId = tar.Digest();
            tarLength = tar.Length64;
        }

        Assert.True(tarLength % 512 == 0);
        return new HostileImages.BlobFile(path, blob.Digest(), blob.Length64, diffId, "application/vnd.oci.image.layer.v1.tar+gzip");
    }

    /// <summary>Runs <c>layerstats scan</c> in a child process under <c>/usr/bin/time -v</c>; returns its exit code, stderr and maximum RSS (KiB).</summary>
    private static (int Exit, string Stderr, long MaxRssKb) RunChildScan(string database, string input)
    {
        Assert.True(File.Exists("/usr/bin/time"), "this test needs /usr/bin/time (apt-get install -y time)");
        var start = new ProcessStartInfo("/usr/bin/time") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in (string[])["-v", "dotnet", typeof(LayerStats.Cli.Program).Assembly.Location, "scan", "--db", database, "--quiet", input])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start /usr/bin/time");
        var stdout = process.StandardOutput.ReadToEndAsync();
        string stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        _ = stdout.Result;
        var match = MaxRss().Match(stderr);
        Assert.True(match.Success, "no 'Maximum resident set size' in: " + stderr);
        return (process.ExitCode, stderr, long.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"Maximum resident set size \(kbytes\): (\d+)")]
    private static partial Regex MaxRss();
}
