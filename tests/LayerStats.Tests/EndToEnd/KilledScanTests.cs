using System.Diagnostics;
using LayerStats.Fixtures;

namespace LayerStats.Tests.EndToEnd;

/// <summary>
/// A scan killed with SIGKILL at arbitrary moments (a real child process), then run again, gives exactly the
/// database of an uninterrupted scan: the same figures, and no row twice.
/// </summary>
public sealed class KilledScanTests
{
    [Fact]
    public void Scans_killed_at_several_moments_then_rerun_equal_an_uninterrupted_scan()
    {
        using var dir = new TempDir();
        string[] inputs = WriteImages(dir.Path);

        using var reference = new CliHarness();
        Assert.Equal(0, reference.Scan(inputs).Exit);
        var expected = reference.Summary();
        long expectedFiles = reference.Scalar("SELECT count(*) FROM files");

        using var killed = new CliHarness();

        // Kill while the child is writing: as soon as its write-ahead log has grown past a threshold (so the kill
        // lands inside layer loads and image commits, whatever the machine's speed). Each rerun has less left to do.
        int kills = 0;
        foreach (long walBytes in new long[] { 1, 16 << 10, 128 << 10, 512 << 10, 1 << 20, 2 << 20 })
        {
            var run = RunChild(killed.Database, inputs, killWhenWalExceeds: walBytes);
            kills += run.Killed ? 1 : 0;
        }

        Assert.True(kills >= 3, $"only {kills} of the runs were killed before they finished; the data set is too small");
        var final = RunChild(killed.Database, inputs, killWhenWalExceeds: null);
        Assert.Equal(0, final.ExitCode);

        Assert.Equal(expected, killed.Summary());
        Assert.Equal(expectedFiles, killed.Scalar("SELECT count(*) FROM files"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM (SELECT diff_id, seq FROM files GROUP BY ALL HAVING count(*) > 1)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM layer_contents c WHERE c.entries <> (SELECT count(*) FROM files f WHERE f.diff_id = c.diff_id)"));
        Assert.Equal(0L, killed.Scalar("SELECT count(*) FROM images i WHERE i.layer_count <> (SELECT count(*) FROM image_layers l WHERE l.image_id = i.image_id)"));
        Assert.Equal(reference.Scalar("SELECT count(*) FROM image_refs"), killed.Scalar("SELECT count(*) FROM image_refs"));
    }

    private static string[] WriteImages(string dir)
    {
        // 12 images over a shared base: enough rows that a scan takes long enough to be killed mid-way.
        var baseLayer = BuiltLayer.From(Tree("base", files: 4000, size: 600), LayerCompression.Gzip);
        var inputs = new List<string>();
        for (int i = 0; i < 12; i++)
        {
            var image = new ImageBuilder()
                .Layer(baseLayer, "ADD rootfs")
                .Layer(Tree("app" + i, files: 2000, size: 900), i % 2 == 0 ? LayerCompression.Gzip : LayerCompression.Zstd, "COPY app")
                .Build()
                .Tagged($"app{i}:1");
            string path = Path.Combine(dir, $"app{i}.tar");
            if (i % 3 == 0)
            {
                ArchiveWriter.DockerSaveLegacy(path, image);
            }
            else
            {
                ArchiveWriter.OciArchive(path, OciEntry.Of(image, $"app{i}:1"));
            }

            inputs.Add(path);
        }

        return inputs.ToArray();
    }

    private static LayerBuilder Tree(string seed, int files, int size)
    {
        var layer = new LayerBuilder(implicitParents: true);
        for (int i = 0; i < files; i++)
        {
            layer.File($"{seed}/d{i % 40}/f{i}.txt", Content.Text($"{seed}-{i % 500}", 1 + (size / 60)));
        }

        return layer;
    }

    private static (int ExitCode, bool Killed) RunChild(string database, string[] inputs, long? killWhenWalExceeds)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(typeof(LayerStats.Cli.Program).Assembly.Location);
        foreach (string arg in (string[])["scan", "--db", database, "--quiet", "--jobs", "2", .. inputs])
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("cannot start dotnet");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        bool killed = false;
        if (killWhenWalExceeds is { } threshold)
        {
            var wal = new FileInfo(database + ".wal");
            while (!process.WaitForExit(2))
            {
                wal.Refresh();
                if (wal.Exists && wal.Length >= threshold)
                {
                    process.Kill(entireProcessTree: true); // SIGKILL: no chance to clean up
                    killed = true;
                    break;
                }
            }
        }

        process.WaitForExit();
        _ = stdout.Result;
        string errors = stderr.Result;
        Assert.True(killed || process.ExitCode == 0, $"scan failed ({process.ExitCode}): {errors}");
        return (process.ExitCode, killed);
    }
}
