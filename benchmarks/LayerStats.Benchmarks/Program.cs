using BenchmarkDotNet.Running;

namespace LayerStats.Benchmarks;

public static class Program
{
    public static void Main(string[] args)
    {
        // `--write-layer <dir>` writes the benchmark layer (layer.tar, layer.tar.gz, layer.tar.zst) for command-line comparisons.
        if (args is ["--write-layer", var dir])
        {
            Directory.CreateDirectory(dir);
            byte[] tar = LayerGenerator.GenerateTar(128L * 1024 * 1024);
            File.WriteAllBytes(Path.Combine(dir, "layer.tar"), tar);
            File.WriteAllBytes(Path.Combine(dir, "layer.tar.gz"), LayerGenerator.Gzip(tar));
            File.WriteAllBytes(Path.Combine(dir, "layer.tar.zst"), LayerGenerator.Zstd(tar));
            Console.WriteLine($"wrote {dir}: tar {tar.Length} bytes");
            return;
        }

        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
