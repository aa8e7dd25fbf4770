using System.Text.Json;

namespace LayerStats.Cli;

/// <summary>
/// The nightly job's configuration file (JSON), read by <c>layerstats run --config FILE</c> and <c>check --config</c>.
/// Relative paths are relative to the file's folder. See docs/nightly.md.
/// </summary>
public sealed record NightlyConfig(
    string ConfigPath,
    string Database,
    IReadOnlyList<string> Sources,
    int? Jobs,
    string? FileHash,
    string? Platform,
    IReadOnlyList<string> ExtraScanArgs,
    string? HtmlReport,
    string? CsvDirectory,
    string? SummaryJson,
    IReadOnlyDictionary<string, string> Gate)
{
    /// <summary>reports.memoryLimit: DuckDB's memory for the reports and the gate (null: DatabaseOptions.Reports' 1 GB); not the scan's.</summary>
    public int? ReportsMemoryLimitMegabytes { get; init; }

    private static readonly string[] SourcePrefixes = ["docker-archive:", "oci-archive:", "oci:"];

    public static NightlyConfig Load(string path)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot read config '{path}': {ex.Message}");
        }

        string dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        try
        {
            using var doc = JsonDocument.Parse(bytes, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new UsageException($"config '{path}': expected a JSON object");
            }

            Known(root, path, "", "database", "sources", "scan", "reports", "gate");
            string database = Resolve(dir, String(root, "database", path) ?? throw new UsageException($"config '{path}': 'database' is required"));
            var sources = new List<string>();
            if (root.TryGetProperty("sources", out var src) && src.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in src.EnumerateArray())
                {
                    sources.AddRange(ExpandSource(dir, item.GetString() ?? throw new UsageException($"config '{path}': sources must be strings")));
                }
            }

            if (sources.Count == 0)
            {
                throw new UsageException($"config '{path}': 'sources' must list at least one input");
            }

            int? jobs = null;
            string? fileHash = null, platform = null;
            var extra = new List<string>();
            if (root.TryGetProperty("scan", out var scan))
            {
                Known(scan, path, "scan.", "jobs", "fileHash", "platform", "extraArgs");
                jobs = scan.TryGetProperty("jobs", out var j) && j.ValueKind == JsonValueKind.Number ? j.GetInt32() : null;
                fileHash = String(scan, "fileHash", path);
                platform = String(scan, "platform", path);
                if (scan.TryGetProperty("extraArgs", out var e) && e.ValueKind == JsonValueKind.Array)
                {
                    extra.AddRange(e.EnumerateArray().Select(x => x.GetString() ?? ""));
                }
            }

            string? html = null, csv = null, summary = null;
            int? memoryLimit = null;
            if (root.TryGetProperty("reports", out var reports))
            {
                Known(reports, path, "reports.", "html", "csv", "summaryJson", "memoryLimit");
                memoryLimit = String(reports, "memoryLimit", path) is { } m ? ReportMemory.ParseMegabytes(m, $"config '{path}': 'reports.memoryLimit'") : null;
                html = String(reports, "html", path) is { } h ? Resolve(dir, h) : null;
                csv = String(reports, "csv", path) is { } c ? Resolve(dir, c) : null;
                summary = String(reports, "summaryJson", path) is { } s ? Resolve(dir, s) : null;
            }

            var gate = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("gate", out var g) && g.ValueKind == JsonValueKind.Object)
            {
                foreach (var rule in g.EnumerateObject())
                {
                    gate[rule.Name] = rule.Value.ValueKind == JsonValueKind.String ? rule.Value.GetString()! : rule.Value.GetRawText();
                }
            }

            return new NightlyConfig(path, database, sources, jobs, fileHash, platform, extra, html, csv, summary, gate)
            {
                ReportsMemoryLimitMegabytes = memoryLimit,
            };
        }
        catch (JsonException ex)
        {
            throw new UsageException($"config '{path}' is not valid JSON: {ex.Message}");
        }
    }

    private static void Known(JsonElement obj, string path, string prefix, params string[] names)
    {
        foreach (var property in obj.EnumerateObject())
        {
            if (!names.Contains(property.Name))
            {
                throw new UsageException($"config '{path}': unknown key '{prefix}{property.Name}' (known: {string.Join(", ", names)})");
            }
        }
    }

    private static string? String(JsonElement obj, string name, string path) =>
        !obj.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new UsageException($"config '{path}': '{name}' must be a string");

    private static string Resolve(string dir, string path) => Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(dir, path));

    /// <summary>Registry references stay as they are; file paths are resolved against the config's folder and a '*' in the last component expands.</summary>
    private static IEnumerable<string> ExpandSource(string dir, string source)
    {
        if (source.Contains("://", StringComparison.Ordinal))
        {
            return [source];
        }

        string prefix = SourcePrefixes.FirstOrDefault(p => source.StartsWith(p, StringComparison.Ordinal)) ?? "";
        string rest = Resolve(dir, source[prefix.Length..]);
        string name = Path.GetFileName(rest);
        if (prefix.Length == 0 && name.Contains('*', StringComparison.Ordinal))
        {
            string parent = Path.GetDirectoryName(rest)!;
            var matches = Directory.Exists(parent)
                ? Directory.GetFileSystemEntries(parent, name).Order(StringComparer.Ordinal).ToList()
                : [];
            return matches.Count > 0 ? matches : [rest];
        }

        return [prefix + rest];
    }
}
