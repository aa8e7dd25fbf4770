using System.Diagnostics;
using System.Globalization;
using LayerStats.Storage;
using LayerStats.StoreBench;

// layerstats store benchmark: generate a fleet-sized database, then time every report view on it with the tool's
// own DuckDB settings (LayerStatsDatabase.OpenReadOnly: memory_limit and threads as the CLI sets them).
const string Usage = """
    usage: LayerStats.StoreBench generate DB [--images N] [--files N] [--bases N] [--runs N] [--no-snapshot]
           LayerStats.StoreBench time DB [-n RUNS] [--top N] [--only NAME[,NAME]]
           LayerStats.StoreBench snapshot DB [--memory MB] [--batch-rows N] [--from-scratch | --images-only] [-v] | describe DB
           LayerStats.StoreBench sql DB [--memory MB] "SQL;\nSQL..."
    """;

// The database is the second argument and never an option: "snapshot --help" must not create a file called --help.
if (args.Length < 2 || args[1].StartsWith('-'))
{
    Console.Error.WriteLine(Usage);
    return 2;
}

string command = args[0];
string db = args[1];
string? Option(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
long Long(string name, long fallback) => Option(name) is { } v ? long.Parse(v, CultureInfo.InvariantCulture) : fallback;

switch (command)
{
    case "generate":
    {
        var shape = new StoreShape(
            Images: (int)Long("--images", 10_000), Files: Long("--files", 50_000_000),
            Bases: (int)Long("--bases", 50), Runs: (int)Long("--runs", 30), Snapshot: !args.Contains("--no-snapshot"));
        Console.WriteLine($"generating {db}: {shape}");
        Generator.Generate(db, shape, Console.Out);
        Describe(db);
        return 0;
    }
    case "time":
    {
        int runs = (int)Long("-n", 3);
        int top = (int)Long("--top", 1000);
        var only = Option("--only")?.Split(',', StringSplitOptions.RemoveEmptyEntries);
        using var database = LayerStatsDatabase.OpenReadOnly(db);
        Console.WriteLine($"{db}: {Environment.ProcessorCount} cores, tool settings (memory_limit {new DatabaseOptions().MemoryLimitMegabytes} MB, threads {new DatabaseOptions().EffectiveThreads}); {runs} runs each, seconds");
        Console.WriteLine($"  {"query",-40} {"first",8} {"median",8} {"rows",10}");
        foreach (var (name, sql) in Queries.All(top))
        {
            if (only is not null && !only.Contains(name))
            {
                continue;
            }

            var times = new List<double>();
            long rows = 0;
            string? failed = null;
            for (int r = 0; r < runs && failed is null; r++)
            {
                var sw = Stopwatch.StartNew();
                try
                {
                    rows = ReportQueries.Run(database, sql).Rows.Count;
                }
                catch (DuckDB.NET.Data.DuckDBException ex)
                {
                    failed = $"FAILED after {sw.Elapsed.TotalSeconds:F1} s: {ex.Message.Split('\n')[0]}";
                }

                times.Add(sw.Elapsed.TotalSeconds);
            }

            if (failed is not null)
            {
                Console.WriteLine($"  {name,-40} {failed}");
                continue;
            }

            double first = times[0];
            times.Sort();
            Console.WriteLine($"  {name,-40} {first,8:F2} {times[times.Count / 2],8:F2} {rows,10:N0}");
        }

        return 0;
    }
    case "snapshot":
    {
        // What a scan does when it finishes (run_snapshot.sql for the last run), with the tool's settings: on a database
        // written before the derived tables existed, this is the first fill of them.
        // The scan's settings (DatabaseOptions.Scan: its memory limit, one thread, the allocator purge), --memory aside.
        int memory = (int)Long("--memory", DatabaseOptions.Scan.MemoryLimitMegabytes);
        var options = DatabaseOptions.Scan with { MemoryLimitMegabytes = memory };
        using var database = LayerStatsDatabase.Open(db, options);
        using var cmd = database.Connection.CreateCommand();
        if (args.Contains("--from-scratch"))
        {
            // Empty the derived tables first: the first fill (a database written before they existed, a first fleet scan).
            cmd.CommandText = "DELETE FROM content_stats_base; DELETE FROM content_stats_delta; DELETE FROM layer_file_stats; DELETE FROM layer_path_stats; DELETE FROM image_file_stats; DELETE FROM derived_contents; CHECKPOINT";
            cmd.ExecuteNonQuery();
        }
        else if (args.Contains("--images-only"))
        {
            // Only the image step again (image_file_stats for every image; then the run's totals), on a store whose
            // layer-content tables are complete: the rounds find nothing to do.
            cmd.CommandText = "DELETE FROM image_file_stats; CHECKPOINT";
            cmd.ExecuteNonQuery();
        }

        cmd.CommandText = "SELECT max(run_id) FROM scan_runs";
        int run = Convert.ToInt32(cmd.ExecuteScalar(), CultureInfo.InvariantCulture);
        long batchRows = Long("--batch-rows", DuckDbScanStore.DefaultDerivedBatchRows);
        var sw = Stopwatch.StartNew();
        // Section by section (the batch section once per batch), to say where the time goes.
        var times = new Dictionary<string, (int Count, double Seconds, double Max)>();
        Generator.RunSnapshot(database, run, batchRows, (name, elapsed) =>
        {
            var t = times.GetValueOrDefault(name);
            times[name] = (t.Count + 1, t.Seconds + elapsed.TotalSeconds, Math.Max(t.Max, elapsed.TotalSeconds));
            if (args.Contains("-v"))
            {
                Console.WriteLine($"    {elapsed.TotalSeconds,7:F2} s  {name} {t.Count + 1}");
            }
        });
        foreach (var (name, t) in times)
        {
            Console.WriteLine($"  {t.Seconds,7:F1} s  {name} ({t.Count}×, longest {t.Max:F1} s)");
        }

        Console.WriteLine($"run_snapshot.sql for run {run}: {sw.Elapsed.TotalSeconds:F1} s (memory_limit {memory} MB, threads {options.EffectiveThreads}, batches of {batchRows:N0} rows)");
        cmd.Parameters.Clear();
        cmd.CommandText = "CHECKPOINT";
        cmd.ExecuteNonQuery();
        return 0;
    }
    case "sql":
    {
        // Ad-hoc statements with the tool's settings and a chosen memory limit, one at a time, timed (experiments).
        int memory = (int)Long("--memory", new DatabaseOptions().MemoryLimitMegabytes);
        using var database = LayerStatsDatabase.Open(db, new DatabaseOptions(MemoryLimitMegabytes: memory));
        using var cmd = database.Connection.CreateCommand();
        foreach (string statement in args[^1].Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var one = Stopwatch.StartNew();
            cmd.CommandText = statement;
            using var reader = cmd.ExecuteReader();
            int shown = 0;
            do
            {
                while (reader.Read())
                {
                    if (shown++ < 20)
                    {
                        Console.WriteLine("    " + string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i => reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
                    }
                }
            }
            while (reader.NextResult());
            Console.WriteLine($"  {one.Elapsed.TotalSeconds,7:F1} s  {statement.Split('\n')[0]}");
        }

        return 0;
    }
    case "describe":
        Describe(db);
        return 0;
    default:
        Console.Error.WriteLine(Usage);
        return 2;
}

static void Describe(string db)
{
    long bytes = new FileInfo(db).Length;
    using var database = LayerStatsDatabase.OpenReadOnly(db);
    long Count(string table) => Convert.ToInt64(ReportQueries.Run(database, $"SELECT count(*) FROM {table}").Rows[0][0], CultureInfo.InvariantCulture);
    long files = Count("files");
    Console.WriteLine($"images {Count("images"):N0}, layers {Count("layers"):N0}, layer_contents {Count("layer_contents"):N0}, image_layers {Count("image_layers"):N0}, files {files:N0}");
    var dup = ReportQueries.Run(database, """
        SELECT count(*) FILTER (WHERE kind = 'file'),
               (SELECT count(*) FROM (SELECT xxh128 FROM files WHERE kind = 'file' GROUP BY xxh128, size)),
               count(*) FILTER (WHERE kind IN ('whiteout', 'opaque')), count(*) FILTER (WHERE kind = 'hardlink'),
               CAST(sum(size) AS DOUBLE), avg(length(path))
        FROM files
        """).Rows[0];
    long regular = Convert.ToInt64(dup[0], CultureInfo.InvariantCulture);
    long distinct = Convert.ToInt64(dup[1], CultureInfo.InvariantCulture);
    Console.WriteLine($"regular files {regular:N0}, distinct contents {distinct:N0} ({100.0 * (regular - distinct) / regular:F1} % of regular files are extra copies), whiteouts+opaques {dup[2]:N0}, hardlinks {dup[3]:N0}, Σ size {Convert.ToDouble(dup[4], CultureInfo.InvariantCulture) / 1e12:F2} TB, mean path {Convert.ToDouble(dup[5], CultureInfo.InvariantCulture):F0} chars");
    Console.WriteLine($"database file {bytes:N0} bytes ({bytes / 1e9:F2} GB): {(double)bytes / files:F1} bytes per file row (whole file / files rows)");
}
