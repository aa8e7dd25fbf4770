using System.Collections;
using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;
using CsvHelper;
using LayerStats.Storage;

namespace LayerStats.Reports;

public enum OutputFormat
{
    Table,
    Json,
    Csv,
}

/// <summary>Writes a <see cref="QueryResult"/> as an aligned table, JSON or CSV. No SQL here: results come from the views.</summary>
public static class ResultWriters
{
    public static OutputFormat ParseFormat(string text) => text switch
    {
        "table" => OutputFormat.Table,
        "json" => OutputFormat.Json,
        "csv" => OutputFormat.Csv,
        _ => throw new ArgumentException($"--format takes table, json or csv, not '{text}'"),
    };

    public static void Write(QueryResult result, OutputFormat format, TextWriter output, bool singleObject = false)
    {
        switch (format)
        {
            case OutputFormat.Table when singleObject && result.Rows.Count == 1:
                WriteKeyValue(result, output);
                break;
            case OutputFormat.Table:
                WriteTable(result, output);
                break;
            case OutputFormat.Json:
                WriteJson(result, output, singleObject);
                break;
            case OutputFormat.Csv:
                WriteCsv(result, output);
                break;
        }
    }

    /// <summary>One row as "name  value  (human)" lines, for the summary.</summary>
    public static void WriteKeyValue(QueryResult result, TextWriter output)
    {
        var row = result.Rows[0];
        int width = result.Columns.Max(c => c.Length);
        for (int i = 0; i < result.Columns.Count; i++)
        {
            string name = result.Columns[i];
            string value = FormatCell(row[i]);
            string human = name.EndsWith("_bytes", StringComparison.Ordinal) && row[i] is long bytes ? $"  ({HumanBytes(bytes)})" : "";
            output.WriteLine($"{name.PadRight(width)}  {value}{human}");
        }
    }

    public static void WriteTable(QueryResult result, TextWriter output)
    {
        var cells = result.Rows.Select(r => r.Select(FormatCell).Select(Sanitize).ToArray()).ToList();
        var widths = result.Columns.Select((c, i) => Math.Max(c.Length, cells.Count == 0 ? 0 : cells.Max(r => r[i].Length))).ToArray();
        var numeric = result.Columns.Select((_, i) => result.Rows.Count > 0 && result.Rows.All(r => r[i] is null or long or int or double or BigInteger or decimal or short or byte)).ToArray();
        output.WriteLine(string.Join("  ", result.Columns.Select((c, i) => numeric[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
        foreach (var row in cells)
        {
            output.WriteLine(string.Join("  ", row.Select((c, i) => numeric[i] ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))).TrimEnd());
        }

        output.WriteLine($"({result.Rows.Count} row{(result.Rows.Count == 1 ? "" : "s")})");
    }

    public static void WriteJson(QueryResult result, TextWriter output, bool singleObject)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            if (singleObject && result.Rows.Count == 1)
            {
                WriteObject(json, result.Columns, result.Rows[0]);
            }
            else
            {
                json.WriteStartArray();
                foreach (var row in result.Rows)
                {
                    WriteObject(json, result.Columns, row);
                }

                json.WriteEndArray();
            }
        }

        output.WriteLine(Encoding.UTF8.GetString(buffer.ToArray()));
    }

    /// <summary>
    /// RFC 4180 CSV. Values are exact by default (data for scripts); <paramref name="excelSafe"/> has CsvHelper escape
    /// cells that start with = + - @ (a spreadsheet would evaluate them as formulas).
    /// </summary>
    public static void WriteCsv(QueryResult result, TextWriter output, bool excelSafe = false)
    {
        var options = new CsvWriterOptions
        {
            NewLine = "\n",
            Injection = excelSafe ? CsvInjection.Escape : CsvInjection.None,
            FormatProvider = CultureInfo.InvariantCulture,
        };
        using var csv = CsvWriter.Create(output, options, true);
        foreach (var column in result.Columns)
        {
            csv.WriteField(column);
        }

        csv.EndRecord();
        foreach (var row in result.Rows)
        {
            foreach (var cell in row)
            {
                csv.WriteField(FormatCell(cell));
            }

            csv.EndRecord();
        }
    }

    public static string FormatCell(object? value) => value switch
    {
        null => "",
        string s => s,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToHexStringLower(bytes),
        DateTime t => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
        bool b => b ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        IEnumerable list => JsonSerializer.Serialize(list.Cast<object?>().Select(FormatCell)),
        _ => value.ToString() ?? "",
    };

    public static string HumanBytes(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
        double value = bytes;
        int unit = 0;
        while (Math.Abs(value) >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        return unit == 0 ? $"{bytes} B" : string.Create(CultureInfo.InvariantCulture, $"{value:0.0} {units[unit]}");
    }

    /// <summary>Control characters in names from images would move a terminal's cursor: shown escaped.</summary>
    private static string Sanitize(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var sb = new StringBuilder(text.Length + 8);
        foreach (char c in text)
        {
            sb.Append(char.IsControl(c) ? $"\\x{(int)c:x2}" : c.ToString());
        }

        return sb.ToString();
    }

    private static void WriteObject(Utf8JsonWriter json, IReadOnlyList<string> columns, object?[] row)
    {
        json.WriteStartObject();
        for (int i = 0; i < columns.Count; i++)
        {
            json.WritePropertyName(columns[i]);
            WriteValue(json, row[i]);
        }

        json.WriteEndObject();
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
            case ulong ul: json.WriteNumberValue(ul); break;
            case uint ui: json.WriteNumberValue(ui); break;
            case double d when double.IsFinite(d): json.WriteNumberValue(d); break;
            case float f when float.IsFinite(f): json.WriteNumberValue(f); break;
            case decimal m: json.WriteNumberValue(m); break;
            case BigInteger big: json.WriteRawValue(big.ToString(CultureInfo.InvariantCulture)); break;
            case UInt128 u: json.WriteRawValue(u.ToString(CultureInfo.InvariantCulture)); break;
            case Int128 s128: json.WriteRawValue(s128.ToString(CultureInfo.InvariantCulture)); break;
            case byte[] bytes: json.WriteStringValue(Convert.ToHexStringLower(bytes)); break;
            case IEnumerable list and not string:
                json.WriteStartArray();
                foreach (var item in list)
                {
                    WriteValue(json, item);
                }

                json.WriteEndArray();
                break;
            default: json.WriteStringValue(FormatCell(value)); break;
        }
    }
}
