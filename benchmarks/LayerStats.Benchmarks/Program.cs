using BenchmarkDotNet.Running;

namespace LayerStats.Benchmarks;

public static class Program
{
    public static int Main(string[] args)
    {
        // `--limit [--jobs N] DIR...`: the in-process limit of a whole scan (decompress + SHA-256 only), see LimitKernel.
        if (args is ["--limit", .. var rest])
        {
            return LimitKernel.RunAsync(rest).GetAwaiter().GetResult();
        }

        // `--write-layer <dir>` writes the benchmark layer (layer.tar, layer.tar.gz, layer.tar.zst) for command-line comparisons.
        if (args is ["--write-layer", var dir])
        {
            Directory.CreateDirectory(dir);
            byte[] tar = LayerGenerator.GenerateTar(128L * 1024 * 1024);
            File.WriteAllBytes(Path.Combine(dir, "layer.tar"), tar);
            File.WriteAllBytes(Path.Combine(dir, "layer.tar.gz"), LayerGenerator.Gzip(tar));
            File.WriteAllBytes(Path.Combine(dir, "layer.tar.zst"), LayerGenerator.Zstd(tar));
            Console.WriteLine($"wrote {dir}: tar {tar.Length} bytes");
            return 0;
        }

        // `--appender ROWS chunks|duckdbnet [LOADS]`: the appender benchmark's loop without BenchmarkDotNet, for a profiler
        // (perf with DOTNET_PerfMapEnabled=1); prints the append and commit time per row of each load.
        if (args is ["--appender", var rows, var path, .. var loads])
        {
            AppenderBenchmarks.Profile(int.Parse(rows, System.Globalization.CultureInfo.InvariantCulture), path == "duckdbnet",
                loads is [var n] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 3);
            return 0;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return 0;
    }
}
