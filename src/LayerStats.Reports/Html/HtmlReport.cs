using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using LayerStats.Storage;

namespace LayerStats.Reports.Html;

/// <summary>What goes into the HTML report beyond the database: the row cap per table and the page's header facts.</summary>
public sealed record HtmlReportOptions
{
    /// <summary>Rows embedded per table (images, layers, shared layers, bases, duplicates); the page says "showing N of M".</summary>
    public int Top { get; init; } = 1000;

    /// <summary>Shown in the header (the database's file name, say).</summary>
    public string Title { get; init; } = "";

    public DateTimeOffset GeneratedAt { get; init; } = DateTimeOffset.UtcNow;

    public string ToolVersion { get; init; } = "";
}

/// <summary>
/// <c>layerstats report html</c>: one self-contained page (CSS, script and SVG charts inline; no network) over the
/// report sections of <see cref="ReportQueries"/>. The data is embedded as JSON in a
/// <c>&lt;script type="application/json"&gt;</c> block with every <c>&lt;</c>, <c>&gt;</c>, <c>&amp;</c> escaped
/// (so no name from an image can close it), and rendered by the page's script with <c>textContent</c> only.
/// </summary>
public static class HtmlReport
{
    private const string StylePlaceholder = "/*@STYLE@*/";
    private const string ScriptPlaceholder = "/*@SCRIPT@*/";
    private const string DataPlaceholder = "@DATA@";

    /// <summary>The Content-Security-Policy the page declares: nothing may be fetched; only its own inline script and style run.</summary>
    public const string ContentSecurityPolicy = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:";

    public static void Write(LayerStatsDatabase database, Stream output, HtmlReportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(output);
        options ??= new HtmlReportOptions();
        if (options.Top < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(options), "Top must be at least 1");
        }

        var sections = ReportQueries.HtmlSectionNames.ToDictionary(
            name => name,
            name => ReportQueries.Run(database, ReportQueries.SqlForHtmlSection(name, options.Top)),
            StringComparer.Ordinal);
        KeepNamesInUse(sections);

        string template = ReadResource("report.html");
        string[] parts = template.Split(DataPlaceholder);
        if (parts.Length != 2)
        {
            throw new InvalidOperationException("the HTML template must hold the data placeholder exactly once");
        }

        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        string Fill(string part) => part
            .Replace("@CSP@", ContentSecurityPolicy, StringComparison.Ordinal)
            .Replace(StylePlaceholder, ReadResource("report.css"), StringComparison.Ordinal)
            .Replace(ScriptPlaceholder, ReadResource("report.js"), StringComparison.Ordinal);

        WriteText(output, Fill(parts[0]), utf8);
        WriteData(output, sections, options);
        WriteText(output, Fill(parts[1]), utf8);
        output.Flush();
    }

    /// <summary>
    /// The shared-base tree names its images: of all image names only those of images under an embedded base are kept
    /// (a page over 10,000 images need not carry every name twice).
    /// </summary>
    private static void KeepNamesInUse(Dictionary<string, QueryResult> sections)
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        var bases = sections["shared-bases"];
        int ids = IndexOf(bases, "image_ids");
        foreach (var row in bases.Rows)
        {
            if (row[ids] is IEnumerable list)
            {
                foreach (var id in list)
                {
                    if (id is string s)
                    {
                        used.Add(s);
                    }
                }
            }
        }

        var names = sections["image-names"];
        int idColumn = IndexOf(names, "image_id");
        sections["image-names"] = names with { Rows = names.Rows.Where(r => r[idColumn] is string id && used.Contains(id)).ToList() };
    }

    private static int IndexOf(QueryResult result, string column)
    {
        int i = result.Columns.ToList().IndexOf(column);
        return i >= 0 ? i : throw new InvalidOperationException($"report query lacks column '{column}'");
    }

    private static void WriteData(Stream output, Dictionary<string, QueryResult> sections, HtmlReportOptions options)
    {
        // JavaScriptEncoder.Default escapes <, >, &, ', + and non-ASCII as \uXXXX: nothing in the data can end the
        // script element or start a comment, whatever a file name or tag says.
        using var json = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.Default, Indented = false });
        json.WriteStartObject();
        json.WriteString("title", options.Title);
        json.WriteString("generated_at", options.GeneratedAt.UtcDateTime.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture));
        json.WriteString("tool_version", options.ToolVersion);
        json.WriteNumber("top", options.Top);
        json.WriteStartObject("sections");
        foreach (var (name, result) in sections)
        {
            json.WriteStartObject(name);
            int total = result.Columns.ToList().IndexOf("total_rows");
            json.WriteStartArray("columns");
            for (int c = 0; c < result.Columns.Count; c++)
            {
                if (c != total)
                {
                    json.WriteStringValue(result.Columns[c]);
                }
            }

            json.WriteEndArray();
            json.WriteNumber("total", total >= 0 && result.Rows.Count > 0 ? Convert.ToInt64(result.Rows[0][total], CultureInfo.InvariantCulture) : result.Rows.Count);
            json.WriteStartArray("rows");
            foreach (var row in result.Rows)
            {
                json.WriteStartArray();
                for (int c = 0; c < row.Length; c++)
                {
                    if (c != total)
                    {
                        WriteValue(json, row[c]);
                    }
                }

                json.WriteEndArray();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();
        json.Flush();
    }

    private static void WriteValue(Utf8JsonWriter json, object? value)
    {
        switch (value)
        {
            case null: json.WriteNullValue(); break;
            case string s: json.WriteStringValue(s); break;
            case bool b: json.WriteBooleanValue(b); break;
            case long l: json.WriteNumberValue(l); break;
            case int i: json.WriteNumberValue(i); break;
            case short sh: json.WriteNumberValue(sh); break;
            case byte by: json.WriteNumberValue(by); break;
            case uint ui: json.WriteNumberValue(ui); break;
            case ulong ul: json.WriteNumberValue(ul); break;
            case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
            case double: json.WriteNullValue(); break;
            case float f when float.IsFinite(f): json.WriteNumberValue(f); break;
            case decimal m: json.WriteNumberValue(m); break;
            case DateTime t: json.WriteStringValue(t.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)); break;
            case DateTimeOffset t: json.WriteStringValue(t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)); break;
            // 128-bit hashes and big integers do not fit a JavaScript number: text.
            case BigInteger or UInt128 or Int128: json.WriteStringValue(Convert.ToString(value, CultureInfo.InvariantCulture)); break;
            case byte[] bytes: json.WriteStringValue(Convert.ToHexStringLower(bytes)); break;
            case IEnumerable list:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    WriteValue(json, item);
                }

                json.WriteEndArray();
                break;
            default: json.WriteStringValue(ResultWriters.FormatCell(value)); break;
        }
    }

    private static void WriteText(Stream output, string text, Encoding encoding)
    {
        byte[] bytes = encoding.GetBytes(text);
        output.Write(bytes, 0, bytes.Length);
    }

    internal static string ReadResource(string name)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"LayerStats.Reports.Html.{name}")
            ?? throw new InvalidOperationException($"embedded HTML resource '{name}' is missing");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
