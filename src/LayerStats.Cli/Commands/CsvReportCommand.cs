using LayerStats.Reports;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats report csv --db FILE --out DIR [--excel-safe]</c></summary>
public static class CsvReportCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--out" }, new HashSet<string> { "--excel-safe" });
        if (a.Positionals.Count > 0)
        {
            throw new UsageException($"report csv takes no REPORT ('{a.Positionals[0]}'): it writes {string.Join(", ", CsvReports.Reports)}");
        }

        using var database = LayerStatsDatabase.OpenReadOnly(a.Required("--db"));
        foreach (string path in CsvReports.Write(database, a.Required("--out"), a.Flag("--excel-safe")))
        {
            stdout.WriteLine(path);
        }

        return ExitCodes.Success;
    }
}
