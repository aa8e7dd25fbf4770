using LayerStats.Reports;
using LayerStats.Reports.Gate;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats run --config FILE</c>: the nightly job — scan, then the reports, then the gate.</summary>
public static class RunCommand
{
    public const string Usage = """
        usage: layerstats run --config layerstats.json [--quiet]

        Scans the configured sources into the configured database, writes the configured reports (HTML, CSV,
        summary JSON) and evaluates the gate rules. Exit code: 3 if a gate rule failed, else 1 if some input
        failed, else 0 (4: could not run). See docs/nightly.md for the file and for cron, systemd and Kubernetes.
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--config" }, new HashSet<string> { "--quiet" });
        var config = NightlyConfig.Load(a.Required("--config"));
        var gate = new Dictionary<string, string>(config.Gate, StringComparer.Ordinal);
        string? gateScope = gate.Remove("scope", out var scopeText) ? scopeText : null;
        var (thresholds, scope) = CheckCommand.Parse(gate, gateScope); // a mistake in the gate is reported before anything is scanned

        var scanArgs = new List<string> { "--db", config.Database };
        if (config.Jobs is { } jobs)
        {
            scanArgs.AddRange(["--jobs", jobs.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        }

        if (config.FileHash is { } hash)
        {
            scanArgs.AddRange(["--file-hash", hash]);
        }

        if (config.Platform is { } platform)
        {
            scanArgs.AddRange(["--platform", platform]);
        }

        if (a.Flag("--quiet"))
        {
            scanArgs.Add("--quiet");
        }

        scanArgs.AddRange(config.ExtraScanArgs);
        scanArgs.Add("--");
        scanArgs.AddRange(config.Sources);
        int scanExit = await ScanCommand.RunAsync(scanArgs, stdout, stderr, ct);
        if (scanExit is not (ExitCodes.Success or ExitCodes.InputsFailed))
        {
            return scanExit;
        }

        using var database = LayerStatsDatabase.OpenReadOnly(config.Database, ReportMemory.Options(config.ReportsMemoryLimitMegabytes));
        return ReportMemory.Run(database, ReportMemoryHint, () => WriteReports(config, database, gate.Count > 0 ? thresholds : null, scope, scanExit, stdout, stderr));
    }

    /// <summary>How to give run's reports more memory (the config key).</summary>
    internal const string ReportMemoryHint = "\"memoryLimit\" under \"reports\" in the config file (e.g. \"memoryLimit\": \"4GB\")";

    private static int WriteReports(
        NightlyConfig config, LayerStatsDatabase database, IReadOnlyDictionary<string, Threshold>? thresholds, RuleScope? scope,
        int scanExit, TextWriter stdout, TextWriter stderr)
    {
        if (config.SummaryJson is { } summaryPath)
        {
            WriteAtomically(summaryPath, writer => ResultWriters.Write(ReportQueries.Run(database, ReportQueries.SqlFor("summary")), OutputFormat.Json, writer, singleObject: true));
            stderr.WriteLine($"wrote {summaryPath}");
        }

        if (config.CsvDirectory is { } csvDir)
        {
            CsvReports.Write(database, csvDir, excelSafe: false);
            stderr.WriteLine($"wrote {csvDir}");
        }

        if (config.HtmlReport is { } htmlPath)
        {
            ReportHtmlCommand.WriteFile(database, Path.GetFileName(config.Database), htmlPath);
            stderr.WriteLine($"wrote {htmlPath}");
        }

        int gateExit = ExitCodes.Success;
        if (thresholds is not null)
        {
            gateExit = CheckCommand.Evaluate(database, thresholds, scope, OutputFormat.Table, stdout);
        }

        return gateExit != ExitCodes.Success ? gateExit : scanExit;
    }

    private static void WriteAtomically(string path, Action<TextWriter> write)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string temp = path + ".tmp";
        using (var writer = new StreamWriter(temp))
        {
            write(writer);
        }

        File.Move(temp, path, overwrite: true);
    }
}
