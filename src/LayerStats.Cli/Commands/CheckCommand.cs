using LayerStats.Reports;
using LayerStats.Reports.Gate;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats check --db FILE [rule thresholds] [--scope image|overall] [--config FILE]</c>: the CI gate.</summary>
public static class CheckCommand
{
    public static readonly string Usage =
        "usage: layerstats check --db FILE [--RULE THRESHOLD ...] [--scope image|overall] [--config layerstats.json] [--format table|json] [--memory-limit SIZE]\n\n" +
        "Evaluates rules over the database and prints PASS/FAIL per rule and image; exit code 3 when a rule fails.\n" +
        "A THRESHOLD is a number, a size for byte rules (20MB, 1.5GiB), or 'disabled'. Rules (dive's names and meanings first):\n" +
        string.Join("\n", GateRule.All.Select(r => $"  --{r.Key,-34} {r.Description}")) + "\n" +
        "Rules not given are off. Flags override the 'gate' section of --config.\n\n" +
        ReportMemory.UsageLine + " (or reports.memoryLimit in --config)\n";

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var valueOptions = new HashSet<string> { "--db", "--scope", "--config", "--format", ReportMemory.Option };
        foreach (var rule in GateRule.All)
        {
            valueOptions.Add("--" + rule.Key);
        }

        var a = Arguments.Parse(args, valueOptions, new HashSet<string>());
        if (a.Positionals.Count > 0)
        {
            throw new UsageException($"check takes no positional argument ('{a.Positionals[0]}')");
        }

        var config = a.Value("--config") is { } configPath ? NightlyConfig.Load(configPath) : null;
        var settings = new Dictionary<string, string>(config?.Gate ?? new Dictionary<string, string>(), StringComparer.Ordinal);
        foreach (var rule in GateRule.All)
        {
            if (a.Value("--" + rule.Key) is { } value)
            {
                settings[rule.Key] = value;
            }
        }

        string? scopeText = a.Value("--scope") ?? (settings.Remove("scope", out var s) ? s : null);
        string db = a.Value("--db") ?? config?.Database ?? throw new UsageException("--db is required");
        var format = ReportCommand.ParseFormat(a.Value("--format"));
        int? memory = ReportMemory.From(a) ?? config?.ReportsMemoryLimitMegabytes;
        var (thresholds, scope) = Parse(settings, scopeText); // usage mistakes before the database is opened
        using var database = LayerStatsDatabase.OpenReadOnly(db, ReportMemory.Options(memory));
        return ReportMemory.Run(database, ReportMemory.OptionHint, () => Evaluate(database, thresholds, scope, format, stdout));
    }

    /// <summary>Runs the gate; also used by <c>layerstats run</c>.</summary>
    internal static int Evaluate(LayerStatsDatabase database, IReadOnlyDictionary<string, Threshold> thresholds, RuleScope? scope, OutputFormat format, TextWriter stdout)
    {
        var results = GateEvaluator.Evaluate(database, thresholds, scope);
        var table = new QueryResult(
            ["status", "rule", "scope", "subject", "detail"],
            results.Select(r => new object?[] { r.Status.ToString().ToUpperInvariant(), r.Rule, r.Scope.ToString().ToLowerInvariant(), r.Subject, r.Detail }).ToList());
        ResultWriters.Write(table, format, stdout);
        int failed = results.Count(r => r.Status == RuleStatus.Fail);
        if (format == OutputFormat.Table)
        {
            stdout.WriteLine(failed == 0 ? "gate: PASS" : $"gate: FAIL ({failed} failed)");
        }

        return failed == 0 ? ExitCodes.Success : ExitCodes.GateFailed;
    }

    /// <summary>Checks rule names, thresholds and the scope; a mistake is a usage error.</summary>
    internal static (IReadOnlyDictionary<string, Threshold> Thresholds, RuleScope? Scope) Parse(IReadOnlyDictionary<string, string> settings, string? scopeText)
    {
        RuleScope? scope = scopeText switch
        {
            null or "" or "both" => null,
            "image" => RuleScope.Image,
            "overall" => RuleScope.Overall,
            _ => throw new UsageException($"--scope takes image, overall or both, not '{scopeText}'"),
        };
        var thresholds = new Dictionary<string, Threshold>(StringComparer.Ordinal);
        foreach (var (key, value) in settings)
        {
            var rule = GateRule.Find(key) ?? throw new UsageException($"unknown gate rule '{key}' (rules: {string.Join(", ", GateRule.All.Select(r => r.Key))})");
            try
            {
                thresholds[key] = Threshold.Parse(rule, value);
            }
            catch (FormatException ex)
            {
                throw new UsageException(ex.Message);
            }
        }

        return (thresholds, scope);
    }
}
