using System.Globalization;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using LayerStats.Storage;

namespace LayerStats.Cli;

/// <summary>
/// The memory DuckDB gets for the read side (report, check, query, and run's reports): <c>--memory-limit SIZE</c>
/// (or <c>reports.memoryLimit</c> in the nightly config) overrides <see cref="DatabaseOptions.Reports"/>' 1 GB. Also the
/// one place where DuckDB's "Out of Memory Error" becomes advice an operator can act on: DuckDB's first line, then why
/// (the derived tables are stale, so the figures were computed from every file row) and what to do (the next scan, or
/// more memory). DuckDB's own suggestions (SET threads, SET memory_limit) are dropped: a user of layerstats cannot type SET.
/// </summary>
public static partial class ReportMemory
{
    public const string Option = "--memory-limit";

    /// <summary>For the usage text of the read-side commands.</summary>
    public const string UsageLine = "  --memory-limit SIZE  DuckDB's memory for this command (default 1024MB), e.g. 512MB, 4GB, 8GiB; more helps when it runs out";

    /// <summary>The hint for a command-line command.</summary>
    public const string OptionHint = "--memory-limit SIZE (e.g. --memory-limit 4GB)";

    // Below ~2 MB DuckDB cannot even read the schema version of a file; 4 MB opens one and runs small queries.
    private const int MinMegabytes = 4, MaxMegabytes = 1_000_000; // 1 TB

    private const int DiagnosisMegabytes = 64;

    /// <summary>
    /// A size in DuckDB's units as megabytes (1 MB = 10^6 bytes; MiB, GiB, TiB binary): a number (a decimal point
    /// allowed) right before one of MB, GB, TB, MiB, GiB, TiB (any case); from 4MB to 1TB. Anything else is a usage error.
    /// </summary>
    public static int ParseMegabytes(string text, string what = Option)
    {
        var match = SizePattern().Match(text);
        if (match.Success
            && decimal.TryParse(match.Groups[1].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number))
        {
            decimal bytesPerUnit = match.Groups[2].Value.ToUpperInvariant() switch
            {
                "MB" => 1e6m,
                "GB" => 1e9m,
                "TB" => 1e12m,
                "MIB" => 1024m * 1024,
                "GIB" => 1024m * 1024 * 1024,
                _ => 1024m * 1024 * 1024 * 1024,
            };
            decimal megabytes = decimal.Floor(number * bytesPerUnit / 1e6m);
            if (megabytes is >= MinMegabytes and <= MaxMegabytes)
            {
                return (int)megabytes;
            }
        }

        throw new UsageException($"{what} takes a size from 4MB to 1TB such as 512MB, 4GB or 8GiB, not '{text}'");
    }

    /// <summary>The options of a read-side command: <see cref="DatabaseOptions.Reports"/> with the memory limit given, if any.</summary>
    public static DatabaseOptions Options(int? megabytes) =>
        megabytes is { } mb ? DatabaseOptions.Reports with { MemoryLimitMegabytes = mb } : DatabaseOptions.Reports;

    /// <summary>The <c>--memory-limit</c> of parsed arguments (null: not given).</summary>
    public static int? From(Arguments arguments) => arguments.Value(Option) is { } text ? ParseMegabytes(text) : null;

    /// <summary>
    /// Runs a command's work on an open database; an "Out of Memory" from DuckDB comes out as a
    /// <see cref="ReportOutOfMemoryException"/> that says why and what to do (<paramref name="moreMemoryHint"/>: how to give more memory).
    /// </summary>
    public static T Run<T>(LayerStatsDatabase database, string moreMemoryHint, Func<T> work)
    {
        try
        {
            return work();
        }
        catch (Exception ex) when (IsOutOfMemory(ex))
        {
            throw new ReportOutOfMemoryException(Explain(database, ex, moreMemoryHint), ex);
        }
    }

    /// <summary>DuckDB's "Out of Memory Error", also when wrapped (QueryException).</summary>
    public static bool IsOutOfMemory(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is DuckDBException duck && DuckDbErrors.IsOutOfMemory(duck))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>DuckDB's first line, then the reason and the remedies (each line after the first starts with 'layerstats: ').</summary>
    public static string Explain(LayerStatsDatabase database, Exception ex, string moreMemoryHint)
    {
        string message = ex.Message;
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is DuckDBException)
            {
                message = e.Message;
                break;
            }
        }

        string first = message.Split('\n', 2)[0].TrimEnd('\r', ' ');
        string more = $"give the report more memory than its {database.MemoryLimitMegabytes.ToString("N0", CultureInfo.InvariantCulture)} MB with {moreMemoryHint}";
        var (fresh, fileRows) = ReadDerivedState(database);
        if (fresh == false)
        {
            return first + "\n"
                + $"layerstats: the figures were being computed from all {fileRows!.Value.ToString("N0", CultureInfo.InvariantCulture)} file rows, because the last scan "
                + "into this database did not finish bringing the derived tables (content_stats etc.) up to date (it was killed, or its end-of-run step failed).\n"
                + "layerstats: the next scan into this database that finishes (e.g. of the same inputs again) brings them up to date, "
                + $"and reports then read them instead; or {more}.";
        }

        return first + $"\nlayerstats: {more}.";
    }

    /// <summary>
    /// Whether the derived tables are fresh and how many rows <c>files</c> holds; (null, null) when that cannot be read.
    /// These two small queries get at least <see cref="DiagnosisMegabytes"/> (the command fails anyway; under a limit of a
    /// few MB they would run out too).
    /// </summary>
    private static (bool? Fresh, long? FileRows) ReadDerivedState(LayerStatsDatabase database)
    {
        try
        {
            using var command = database.Connection.CreateCommand();
            if (database.MemoryLimitMegabytes < DiagnosisMegabytes)
            {
                command.CommandText = $"SET memory_limit = '{DiagnosisMegabytes}MB'";
                command.ExecuteNonQuery();
            }

            command.CommandText = "SELECT (SELECT fresh FROM derived_state), (SELECT count(*) FROM files)";
            using var reader = command.ExecuteReader();
            if (reader.Read() && !reader.IsDBNull(0))
            {
                return (reader.GetBoolean(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture));
            }
        }
        catch (DuckDBException)
        {
            // An older file without the view, or DuckDB still out of memory: say only what is sure.
        }

        return (null, null);
    }

    [GeneratedRegex(@"\A([0-9]+(?:\.[0-9]+)?)(MB|GB|TB|MiB|GiB|TiB)\z", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();
}

/// <summary>DuckDB ran out of memory in a read-side command; the message says why and what to do (exit code 4).</summary>
public sealed class ReportOutOfMemoryException(string message, Exception inner) : Exception(message, inner);
