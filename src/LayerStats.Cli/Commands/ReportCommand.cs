using LayerStats.Reports;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats report summary|images|shared-layers|duplicates --db FILE [--format table|json|csv] [--limit N]</c></summary>
public static class ReportCommand
{
    public static readonly string Usage = """
        usage: layerstats report REPORT --db FILE [--format table|json|csv] [--limit N] [--memory-limit SIZE]
               layerstats report csv --db FILE --out DIR [--excel-safe] [--memory-limit SIZE]

        REPORT is one of:
          summary        the figures over all images (one row; JSON: one object)
          images         one row per image: sizes, hidden bytes, dive's efficiency and wasted bytes
          shared-layers  blobs used by two or more images, by bytes saved
          duplicates     file contents stored more than once, by duplicate bytes
          shared-bases   the shared base layer sequences (branch points of the prefix tree) and their images
          trend          one row per finished scan run: its images, stored bytes, file duplicates, layers new/gone
          csv            every report above as one CSV file each in DIR (--out DIR [--excel-safe])
          html           one self-contained HTML page with all of them: layerstats report html --db FILE --out FILE [--top N]

        """ + ReportMemory.UsageLine + "\n";

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        if (args.Count > 0 && args[0] == "csv")
        {
            return CsvReportCommand.Run(args.Skip(1).ToList(), stdout);
        }

        int html = ReportHtmlCommand.IndexIn(args);
        if (html >= 0)
        {
            return ReportHtmlCommand.Run(args.Where((_, i) => i != html).ToList(), stdout);
        }

        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--format", "--limit", ReportMemory.Option }, new HashSet<string>());
        if (a.Positionals.Count != 1)
        {
            throw new UsageException("report takes one REPORT: " + string.Join(", ", ReportQueries.Names));
        }

        string report = a.Positionals[0];
        if (!ReportQueries.Names.Contains(report))
        {
            throw new UsageException($"unknown report '{report}' (one of: {string.Join(", ", ReportQueries.Names)})");
        }

        var format = ParseFormat(a.Value("--format"));
        int? limit = a.Int("--limit", 1, int.MaxValue);
        int? memory = ReportMemory.From(a);
        using var database = LayerStatsDatabase.OpenReadOnly(a.Required("--db"), ReportMemory.Options(memory));
        var result = ReportMemory.Run(database, ReportMemory.OptionHint, () => ReportQueries.Run(database, ReportQueries.SqlFor(report, limit)));
        ResultWriters.Write(result, format, stdout, singleObject: report == "summary");
        return ExitCodes.Success;
    }

    internal static OutputFormat ParseFormat(string? text)
    {
        try
        {
            return ResultWriters.ParseFormat(text ?? "table");
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message);
        }
    }
}
