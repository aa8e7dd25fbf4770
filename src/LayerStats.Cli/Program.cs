namespace LayerStats.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        Console.WriteLine("layerstats");
        return args.Length == 0 ? 0 : 2;
    }
}
