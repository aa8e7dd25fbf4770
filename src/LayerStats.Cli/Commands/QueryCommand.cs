using LayerStats.Reports;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats query --db FILE [--format table|csv|json] "SQL"</c>: any read-only SQL over the schema and views.</summary>
public static class QueryCommand
{
    public const string Usage = """
        usage: layerstats query --db FILE [--format table|csv|json] "SQL"

        Runs one read-only SQL statement against the database (opened read-only) and prints the result.
        Tables: images, image_refs, layers, layer_contents, image_layers, files, scan_runs, scan_errors.
        Views:  summary, image_summary, shared_layers, duplicate_files, layer_refs, content_files, ...
        """;

    public static int Run(IReadOnlyList<string> args, TextWriter stdout)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--format" }, new HashSet<string>());
        if (a.Positionals.Count != 1)
        {
            throw new UsageException("query takes exactly one SQL statement (quote it)");
        }

        var format = ReportCommand.ParseFormat(a.Value("--format"));
        using var database = LayerStatsDatabase.OpenReadOnly(a.Required("--db"));
        var result = QueryException.Run(database, a.Positionals[0]);
        ResultWriters.Write(result, format, stdout);
        return ExitCodes.Success;
    }
}
