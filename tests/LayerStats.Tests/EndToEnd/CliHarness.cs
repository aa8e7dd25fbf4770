using LayerStats.Cli;
using LayerStats.Storage;

namespace LayerStats.Tests.EndToEnd;

/// <summary>Runs layerstats commands in-process, as a user would type them, against a database in a temp dir.</summary>
public sealed class CliHarness : IDisposable
{
    private readonly TempDir _dir = new();

    public CliHarness()
    {
        Database = _dir.File("stats.duckdb");
    }

    public string Database { get; }

    public string Dir => _dir.Path;

    public (int Exit, string Stdout, string Stderr) Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = Program.RunAsync(args, stdout, stderr, CancellationToken.None).GetAwaiter().GetResult();
        return (exit, stdout.ToString(), stderr.ToString());
    }

    public (int Exit, string Stdout, string Stderr) Scan(params string[] inputs) =>
        Run(["scan", "--db", Database, "--quiet", .. inputs]);

    public QueryResult Query(string sql)
    {
        using var db = LayerStatsDatabase.OpenReadOnly(Database);
        return ReportQueries.Run(db, sql);
    }

    public Dictionary<string, object?> Summary()
    {
        var result = Query("SELECT * FROM summary");
        return result.Columns.Select((c, i) => (c, result.Rows[0][i])).ToDictionary(x => x.c, x => x.Item2);
    }

    public long Scalar(string sql) => Convert.ToInt64(Query(sql).Rows[0][0], System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose() => _dir.Dispose();
}
