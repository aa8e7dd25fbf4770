using DuckDB.NET.Data;

namespace LayerStats.Storage;

/// <summary>What kind of DuckDB failure an exception is, for the places that act on it (one home for the tests).</summary>
public static class DuckDbErrors
{
    /// <summary>
    /// DuckDB ran out of its memory limit. DuckDB.NET reports a prepared statement's errors as ErrorType Invalid, so the
    /// message says it too ("Out of Memory Error: …", also inside another error's text).
    /// </summary>
    public static bool IsOutOfMemory(DuckDBException ex) =>
        ex.ErrorType == DuckDB.NET.Native.DuckDBErrorType.OutOfMemory
        || ex.Message.Contains("Out of Memory", StringComparison.OrdinalIgnoreCase);

    /// <summary>A missing table or view ("Catalog Error"; see <see cref="IsOutOfMemory"/> on ErrorType).</summary>
    public static bool IsCatalogError(DuckDBException ex) =>
        ex.ErrorType == DuckDB.NET.Native.DuckDBErrorType.Catalog || ex.Message.StartsWith("Catalog Error", StringComparison.Ordinal);
}
