namespace LayerStats.Fixtures;

public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "samples")
        {
            var written = Samples.Write(args[1]);
            foreach (var path in written)
            {
                Console.WriteLine(path);
            }
            return 0;
        }
        if (args.Length >= 2 && args[0] == "bench-data")
        {
            return BenchData.Run(args[1..]);
        }
        Console.Error.WriteLine("usage: LayerStats.Fixtures samples <output-dir>");
        Console.Error.WriteLine("       LayerStats.Fixtures bench-data <output-dir> [--scale N] [--seed S]");
        return 2;
    }
}
