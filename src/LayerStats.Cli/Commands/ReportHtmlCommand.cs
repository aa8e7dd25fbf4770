using LayerStats.Reports.Html;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats report html --db FILE --out FILE [--top N]</c>: the self-contained HTML page.</summary>
public static class ReportHtmlCommand
{
    public static readonly string Usage = """
        usage: layerstats report html --db FILE --out FILE [--top N] [--memory-limit SIZE]

        Writes one self-contained HTML page (no network: styles, script and charts inline; opens from disk):
        summary cards, charts (flat vs stored vs file-deduplicated bytes, shared layers, duplicate bytes by
        directory and file type, per-image shared/unique/hidden bytes, the shared-base tree) and sortable,
        filterable tables (images with their layers, layers, shared layers, duplicated contents, scan runs).
          --top N   rows embedded per table (default 1000); the page says "showing N of M" when capped

        """ + ReportMemory.UsageLine + "\n";

    private static readonly HashSet<string> ValueOptions = new(StringComparer.Ordinal) { "--db", "--out", "--top", "--format", "--limit", ReportMemory.Option };

    /// <summary>Where the report name <c>html</c> stands among the arguments of <c>report</c> (before or after the options), or -1.</summary>
    public static int IndexIn(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            if (args[i] == "--")
            {
                return i + 1 < args.Count && args[i + 1] == "html" ? i + 1 : -1;
            }

            if (args[i] == "html" && (i == 0 || !ValueOptions.Contains(args[i - 1])))
            {
                return i;
            }
        }

        return -1;
    }

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var a = Arguments.Parse(args, new HashSet<string>(ValueOptions.Where(o => o is "--db" or "--out" or "--top" or ReportMemory.Option)), new HashSet<string>());
        if (a.Positionals.Count != 0)
        {
            throw new UsageException($"report html takes no other arguments ('{a.Positionals[0]}')");
        }

        string dbPath = a.Required("--db");
        string outPath = a.Required("--out");
        int top = a.Int("--top", 1, 1_000_000) ?? 1000;
        int? memory = ReportMemory.From(a);
        using var database = LayerStatsDatabase.OpenReadOnly(dbPath, ReportMemory.Options(memory));
        string full = ReportMemory.Run(database, ReportMemory.OptionHint, () => WriteFile(database, Path.GetFileName(dbPath), outPath, top));
        stdout.WriteLine($"wrote {outPath} ({new FileInfo(full).Length:N0} bytes)");
        return ExitCodes.Success;
    }

    /// <summary>Writes the page beside the target and moves it into place: a reader never sees half a page. Also used by <c>run</c>.</summary>
    internal static string WriteFile(LayerStatsDatabase database, string title, string outPath, int top = 1000)
    {
        var options = new HtmlReportOptions
        {
            Top = top,
            Title = title,
            ToolVersion = ToolInfo.Version,
        };
        string full = Path.GetFullPath(outPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        string temp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var file = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
            {
                HtmlReport.Write(database, file, options);
            }

            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            File.Delete(temp);
        }

        return full;
    }
}
