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

    public static string SqlFor(string report, int? limit = null) =>
        Reports.TryGetValue(report, out var sql)
            ? limit is > 0 ? $"{sql} LIMIT {limit.Value}" : sql
            : throw new ArgumentException($"unknown report '{report}' (one of: {string.Join(", ", Reports.Keys)})", nameof(report));

    public static QueryResult Run(LayerStatsDatabase database, string sql)
    {
        using var cmd = database.Connection.CreateCommand();
        cmd.CommandText = sql;
        using var reader = cmd.ExecuteReader();
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

        return new QueryResult(columns, rows);
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
    public static QueryResult Run(LayerStatsDatabase database, string sql)
    {
        try
        {
            return ReportQueries.Run(database, sql);
        }
        catch (DuckDBException ex)
        {
            throw new QueryException(ex.Message, ex);
        }
    }
}
