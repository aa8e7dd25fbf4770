using DuckDB.NET.Data;

namespace LayerStats.Storage;

/// <summary>A query's columns and rows, as plain .NET values (long, double, string, BigInteger, byte[], lists, times).</summary>
public sealed record QueryResult(IReadOnlyList<string> Columns, IReadOnlyList<object?[]> Rows);

/// <summary>The reports and their views: each report is one view, in a stated order. Reports contain no SQL of their own.</summary>
public static class ReportQueries
{
    private static readonly Dictionary<string, string> Reports = new(StringComparer.Ordinal)
    {
        ["summary"] = "SELECT * FROM summary",
        ["images"] = "SELECT * FROM image_summary ORDER BY compressed_bytes DESC, image_id",
        ["shared-layers"] = "SELECT * FROM shared_layers ORDER BY saved_bytes DESC, digest",
        ["duplicates"] = "SELECT * FROM duplicate_files ORDER BY duplicate_bytes DESC, content_hash",
        ["trend"] = "SELECT * FROM trend",
        ["gate-images"] = "SELECT * FROM gate_images ORDER BY image_id",
        ["shared-bases"] = "SELECT layers, top_layer, base_bytes, images, saved_bytes, image_ids FROM shared_bases ORDER BY saved_bytes DESC, top_layer",
    };

    public static IReadOnlyCollection<string> Names => Reports.Keys;

    /// <summary>
    /// The sections of the HTML report (views of views.sql and report_views.sql), each its top {0} rows in a stated
    /// order with <c>total_rows</c>, how many rows there are in all.
    /// </summary>
    private static readonly Dictionary<string, string> HtmlSections = new(StringComparer.Ordinal)
    {
        ["summary"] = "SELECT * FROM summary",
        ["storage-levels"] = "SELECT basis, level, name, bytes FROM storage_levels ORDER BY basis, level",
        ["images"] = "SELECT s.image_id, s.names, s.platform, s.layers, s.compressed_bytes, s.uncompressed_bytes, s.hidden_bytes, s.hidden_files, s.efficiency, s.wasted_bytes, s.created, b.shared_layers, b.shared_compressed_bytes, b.unique_compressed_bytes, b.shared_uncompressed_bytes, b.unique_uncompressed_bytes, count(*) OVER () AS total_rows FROM image_summary s JOIN image_stacked_bytes b ON b.image_id = s.image_id ORDER BY s.compressed_bytes DESC, s.image_id LIMIT {0}",
        ["image-layers"] = "SELECT image_id, position, digest, size, uncompressed_size, compression, refs, created_by FROM image_layer_report WHERE image_id IN (SELECT image_id FROM image_summary ORDER BY compressed_bytes DESC, image_id LIMIT {0}) ORDER BY image_id, position",
        ["image-names"] = "SELECT image_id, names FROM image_summary",
        ["layers"] = "SELECT digest, diff_id, size, uncompressed_size, compression, refs, saved_bytes, files, created_by, count(*) OVER () AS total_rows FROM layer_summary ORDER BY size DESC, digest LIMIT {0}",
        ["shared-layers"] = "SELECT s.digest, s.refs, s.size, s.saved_bytes, s.uncompressed_size, l.compression, l.created_by, count(*) OVER () AS total_rows FROM shared_layers s JOIN layer_summary l ON l.digest = s.digest ORDER BY s.saved_bytes DESC, s.digest LIMIT {0}",
        ["shared-bases"] = "SELECT layers, top_layer, base_bytes, images, saved_bytes, image_ids, layer_digests, count(*) OVER () AS total_rows FROM shared_bases ORDER BY saved_bytes DESC, top_layer LIMIT {0}",
        ["duplicates"] = "SELECT content_hash, size, occurrences, layers, duplicate_bytes, example_paths, count(*) OVER () AS total_rows FROM duplicate_files ORDER BY duplicate_bytes DESC, content_hash LIMIT {0}",
        ["duplicate-directories"] = "SELECT directory, duplicate_files, duplicate_bytes, count(*) OVER () AS total_rows FROM duplicate_bytes_by_directory ORDER BY duplicate_bytes DESC, directory LIMIT {0}",
        ["duplicate-extensions"] = "SELECT extension, duplicate_files, duplicate_bytes, count(*) OVER () AS total_rows FROM duplicate_bytes_by_extension ORDER BY duplicate_bytes DESC, extension LIMIT {0}",
        ["runs"] = "SELECT *, count(*) OVER () AS total_rows FROM run_history ORDER BY run_id DESC LIMIT {0}",
    };

    public static IReadOnlyCollection<string> HtmlSectionNames => HtmlSections.Keys;

    /// <summary>The SQL of an HTML report section, capped at <paramref name="top"/> rows.</summary>
    public static string SqlForHtmlSection(string section, int top) =>
        HtmlSections.TryGetValue(section, out var sql)
            ? string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, top)
            : throw new ArgumentException($"unknown HTML report section '{section}'", nameof(section));

    public static string SqlFor(string report, int? limit = null) =>
        Reports.TryGetValue(report, out var sql)
            ? limit is > 0 ? $"{sql} LIMIT {limit.Value}" : sql
            : throw new ArgumentException($"unknown report '{report}' (one of: {string.Join(", ", Reports.Keys)})", nameof(report));

    public static QueryResult Run(LayerStatsDatabase database, string sql) => RunAll(database, sql)[^1];

    /// <summary>Runs every statement of <paramref name="sql"/> in order; one result per statement.</summary>
    public static IReadOnlyList<QueryResult> RunAll(LayerStatsDatabase database, string sql)
    {
        using var cmd = database.Connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
        var results = new List<QueryResult>();
        do
        {
            var columns = Enumerable.Range(0, reader.FieldCount).Select(reader.GetName).ToList();
            var rows = new List<object?[]>();
            while (reader.Read())
            {
                var row = new object?[reader.FieldCount];
                for (int i = 0; i < row.Length; i++)
                {
                    row[i] = reader.IsDBNull(i) ? null : Materialize(reader.GetValue(i));
                }

                rows.Add(row);
            }

            results.Add(new QueryResult(columns, rows));
        }
        while (reader.NextResult());

        return results;
    }

    /// <summary>BLOBs come back as streams over the result's memory, valid only while the reader is: copied here.</summary>
    private static object Materialize(object value)
    {
        if (value is not Stream stream)
        {
            return value;
        }

        using (stream)
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }
}

/// <summary>Raised for an error in a user's SQL, with DuckDB's own message.</summary>
public sealed class QueryException(string message, Exception inner) : Exception(message, inner)
{
    public static IReadOnlyList<QueryResult> RunAll(LayerStatsDatabase database, string sql)
    {
        try
        {
            return ReportQueries.RunAll(database, sql);
        }
        catch (DuckDBException ex)
        {
            throw new QueryException(ex.Message, ex);
        }
    }
}
