using System.Globalization;
using LayerStats.Storage;

namespace LayerStats.Reports.Gate;

public enum RuleStatus
{
    Pass,
    Fail,
    Skip,
}

/// <summary>Where a rule looks: each image, or the figures over all images.</summary>
public enum RuleScope
{
    Image,
    Overall,
}

/// <summary>One result line: a rule on one subject (an image, or "overall").</summary>
public sealed record RuleResult(string Rule, RuleScope Scope, string Subject, RuleStatus Status, string Detail);

/// <summary>
/// A gate rule, as dive's CI rules are: a key, a threshold (or "disabled"), and an evaluation over the
/// analysis result (here: rows of the gate_images and summary views). Lower-is-better rules fail above their
/// threshold, higher-is-better rules below it.
/// </summary>
public sealed record GateRule(string Key, string Description, bool HigherIsBetter, bool IsBytes, string? ImageColumn, string? OverallColumn)
{
    public static readonly IReadOnlyList<GateRule> All =
    [
        new("lowest-efficiency", "dive's efficiency of an image (0..1): fail below", true, false, "efficiency", null),
        new("highest-wasted-bytes", "dive's wasted bytes of an image: fail above", false, true, "wasted_bytes", null),
        new("highest-user-wasted-percent", "dive's wasted bytes / bytes of the layers above the first (a ratio, as dive): fail above", false, false, "user_wasted_percent", null),
        new("highest-duplicate-bytes", "file-level duplicate bytes (of an image's layers; overall: of all distinct layers): fail above", false, true, "file_duplicate_bytes", "file_duplicate_bytes"),
        new("lowest-layering-savings-percent", "savings from layering, % of flat compressed bytes (overall): fail below", true, false, null, "layering_savings_compressed_percent"),
        new("highest-hidden-bytes", "hidden bytes (of an image; overall: of all images): fail above", false, true, "hidden_bytes", "hidden_bytes"),
    ];

    public static GateRule? Find(string key) => All.FirstOrDefault(r => r.Key == key);
}

/// <summary>A threshold as configured: a number, a size (20MB, 1.5GiB) for byte rules, or disabled.</summary>
public readonly record struct Threshold(double? Value)
{
    public static Threshold Disabled => new(null);

    public static Threshold Parse(GateRule rule, string text)
    {
        string t = text.Trim();
        if (t.Length == 0 || t.Equals("disabled", StringComparison.OrdinalIgnoreCase) || t.Equals("off", StringComparison.OrdinalIgnoreCase))
        {
            return Disabled;
        }

        if (double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double plain))
        {
            return new(plain);
        }

        if (rule.IsBytes && TryParseBytes(t, out double bytes))
        {
            return new(bytes);
        }

        throw new FormatException($"--{rule.Key}: '{text}' is not {(rule.IsBytes ? "a size (e.g. 20MB, 1.5GiB, 1048576)" : "a number")} or 'disabled'");
    }

    private static bool TryParseBytes(string text, out double bytes)
    {
        (string Suffix, double Factor)[] units =
        [
            ("KiB", 1024d), ("MiB", 1024d * 1024), ("GiB", 1024d * 1024 * 1024), ("TiB", 1024d * 1024 * 1024 * 1024),
            ("KB", 1e3), ("MB", 1e6), ("GB", 1e9), ("TB", 1e12), ("K", 1e3), ("M", 1e6), ("G", 1e9), ("B", 1),
        ];
        foreach (var (suffix, factor) in units)
        {
            if (text.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)
                && double.TryParse(text[..^suffix.Length].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double n))
            {
                bytes = n * factor;
                return true;
            }
        }

        bytes = 0;
        return false;
    }
}

/// <summary>Evaluates the configured rules over the database's views.</summary>
public static class GateEvaluator
{
    public static IReadOnlyList<RuleResult> Evaluate(LayerStatsDatabase database, IReadOnlyDictionary<string, Threshold> thresholds, RuleScope? onlyScope)
    {
        var results = new List<RuleResult>();
        var images = ReportQueries.Run(database, ReportQueries.SqlFor("gate-images"));
        var summary = ReportQueries.Run(database, ReportQueries.SqlFor("summary"));
        foreach (var rule in GateRule.All)
        {
            var threshold = thresholds.TryGetValue(rule.Key, out var t) ? t : Threshold.Disabled;
            if (threshold.Value is not { } limit)
            {
                results.Add(new RuleResult(rule.Key, rule.ImageColumn is null ? RuleScope.Overall : RuleScope.Image, "-", RuleStatus.Skip, "disabled"));
                continue;
            }

            if (rule.ImageColumn is { } column && onlyScope is null or RuleScope.Image)
            {
                int index = Column(images, column);
                int names = Column(images, "names");
                int ids = Column(images, "image_id");
                foreach (var row in images.Rows)
                {
                    string subject = row[names] is string n && n.Length > 0 ? $"{row[ids]} ({n})" : (string)row[ids]!;
                    results.Add(Judge(rule, RuleScope.Image, subject, row[index], limit));
                }
            }

            if (rule.OverallColumn is { } overall && onlyScope is null or RuleScope.Overall)
            {
                results.Add(Judge(rule, RuleScope.Overall, "overall", summary.Rows[0][Column(summary, overall)], limit));
            }
        }

        return results;
    }

    private static RuleResult Judge(GateRule rule, RuleScope scope, string subject, object? value, double limit)
    {
        if (value is null)
        {
            return new RuleResult(rule.Key, scope, subject, RuleStatus.Pass, "no value (nothing to measure)");
        }

        double v = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        bool pass = rule.HigherIsBetter ? v >= limit : v <= limit;
        string shown = rule.IsBytes ? ((long)v).ToString(CultureInfo.InvariantCulture) : v.ToString("R", CultureInfo.InvariantCulture);
        string limitShown = rule.IsBytes ? ((long)limit).ToString(CultureInfo.InvariantCulture) : limit.ToString("R", CultureInfo.InvariantCulture);
        string op = rule.HigherIsBetter ? (pass ? ">=" : "<") : (pass ? "<=" : ">");
        return new RuleResult(rule.Key, scope, subject, pass ? RuleStatus.Pass : RuleStatus.Fail, $"{shown} {op} {limitShown}");
    }

    private static int Column(QueryResult result, string name)
    {
        int index = result.Columns.ToList().IndexOf(name);
        return index >= 0 ? index : throw new InvalidOperationException($"the view lacks column '{name}'");
    }
}
