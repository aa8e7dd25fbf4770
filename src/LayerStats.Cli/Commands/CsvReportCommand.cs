using LayerStats.Reports;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats report csv --db FILE --out DIR [--excel-safe]</c></summary>
public static class CsvReportCommand
{
    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--out", ReportMemory.Option }, new HashSet<string> { "--excel-safe" });
        if (a.Positionals.Count > 0)
        {
            throw new UsageException($"report csv takes no REPORT ('{a.Positionals[0]}'): it writes {string.Join(", ", CsvReports.Reports)}");
        }

        int? memory = ReportMemory.From(a);
        using var database = LayerStatsDatabase.OpenReadOnly(a.Required("--db"), ReportMemory.Options(memory));
        var paths = ReportMemory.Run(database, ReportMemory.OptionHint, () => CsvReports.Write(database, a.Required("--out"), a.Flag("--excel-safe")).ToList());
        foreach (string path in paths)
        {
            stdout.WriteLine(path);
        }

        return ExitCodes.Success;
    }
}
