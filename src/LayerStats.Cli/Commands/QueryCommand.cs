using LayerStats.Reports;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary>
/// <c>layerstats query --db FILE [--format table|csv|json] [--write] "SQL"</c>: any SQL over the schema and views,
/// read-only unless <c>--write</c> is given.
/// </summary>
public static class QueryCommand
{
    public static readonly string Usage = """
        usage: layerstats query --db FILE [--format table|csv|json] [--write] [--memory-limit SIZE] "SQL"

        Runs one SQL statement against the database and prints the result. The database is opened read-only:
        a statement that would change it is refused (exit 4) unless --write is given (then it is opened for
        writing, which needs that no scan is running on it).
        Tables: images, image_refs, layers, layer_contents, image_layers, files, scan_runs, scan_errors.
        Views:  summary, image_summary, shared_layers, duplicate_files, layer_refs, content_files, ...

        """ + ReportMemory.UsageLine + "\n";

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--format", ReportMemory.Option }, new HashSet<string> { "--write" });
        if (a.Positionals.Count != 1)
        {
            throw new UsageException("query takes exactly one SQL statement (quote it)");
        }

        var format = ReportCommand.ParseFormat(a.Value("--format"));
        string path = a.Required("--db");
        bool write = a.Flag("--write");
        var options = ReportMemory.Options(ReportMemory.From(a));
        if (write && !File.Exists(path))
        {
            throw new FileNotFoundException($"no LayerStats database at '{path}' (run 'layerstats scan --db {path} ...' first)", path);
        }

        // A query gets what a report gets (memory, a thread per core), whether it may write or not.
        using var database = write ? LayerStatsDatabase.Open(path, options) : LayerStatsDatabase.OpenReadOnly(path, options);
        IReadOnlyList<QueryResult> results;
        try
        {
            // Every statement runs, in order, and each result is printed (as DuckDB's own shell does).
            results = ReportMemory.Run(database, ReportMemory.OptionHint, () => QueryException.RunAll(database, a.Positionals[0]));
        }
        catch (QueryException ex) when (!write && ex.Message.Contains("read-only mode", StringComparison.Ordinal))
        {
            // DuckDB refuses any change to a database attached read-only; say what to do about it.
            throw new QueryException($"query is read-only; add --write to change the database ({ex.Message})", ex);
        }

        foreach (var result in results)
        {
            ResultWriters.Write(result, format, stdout);
        }

        return ExitCodes.Success;
    }
}
