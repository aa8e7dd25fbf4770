using System.Diagnostics;
using System.Globalization;
using LayerStats.Storage;

namespace LayerStats.StoreBench;

/// <summary>The shape of a generated store.</summary>
public sealed record StoreShape(int Images = 10_000, long Files = 50_000_000, int Bases = 50, int Roots = 5, int Runs = 30, bool Snapshot = true);

/// <summary>
/// Writes a LayerStats database of fleet size straight with SQL (<c>INSERT ... SELECT ... FROM range(...)</c>), through the
/// real schema (<see cref="LayerStatsDatabase.Open"/>), deterministically (every random figure is a hash of a row number).
///
/// Shape: <c>Roots</c> OS root layers; <c>Bases</c> bases = a root + 2-4 layers of their own (3-5 layers); images pick a base
/// (skewed: a few bases are popular), belong to an "app" of 3 images sharing a dependencies layer on top of the base, and
/// add 1-4 layers of their own; every 10th image is arm64. Files are spread over the layers in proportion to a weight
/// (root 40, base 12, dependencies 6, own 1) times a log-normal factor; 83 % regular files, the rest directories,
/// symlinks, hardlinks and (in own layers) whiteouts and opaque markers. A quarter of the regular files take their
/// content from a shared pool (skewed, so popular contents repeat often, with the same path), the rest are unique;
/// sizes are log-normal (median ~3.6 KB, mean ~22 KB); paths look like distribution paths.
/// </summary>
public static class Generator
{
    public static void Generate(string path, StoreShape shape, TextWriter log)
    {
        if (File.Exists(path))
        {
            File.Delete(path);
        }

        File.Delete(path + ".wal");
        var total = Stopwatch.StartNew();
        // The generator is not the tool: it may use more memory than the tool's default to write faster.
        using (var db = LayerStatsDatabase.Open(path, new DatabaseOptions(MemoryLimitMegabytes: 6144)))
        {
            var c = db.Connection;
            Exec(c, log, "settings", "SET preserve_insertion_order = true");
            foreach (var (name, sql) in Statements(shape))
            {
                Exec(c, log, name, sql);
            }

            if (shape.Snapshot)
            {
                // The per-run totals of the last run, as a scan writes them when it finishes (timed: part of a scan).
                var snapshot = Stopwatch.StartNew();
                RunSnapshot(db, shape.Runs, DuckDbScanStore.DefaultDerivedBatchRows, null);
                log.WriteLine($"  {"run_snapshot.sql (last run)",-34} {snapshot.Elapsed.TotalSeconds,8:F1} s");
                // Earlier runs: the last run's totals scaled by the images they saw (the trend's shape, not computed figures).
                Exec(c, log, "earlier runs' totals", $"""
                    UPDATE scan_runs s SET run_images = x.n,
                        stored_bytes = CAST(l.stored_bytes * x.n / l.run_images AS BIGINT),
                        flat_bytes = CAST(l.flat_bytes * x.n / l.run_images AS BIGINT),
                        file_unique_content_bytes = CAST(l.file_unique_content_bytes * x.n / l.run_images AS BIGINT),
                        file_duplicate_bytes = CAST(l.file_duplicate_bytes * x.n / l.run_images AS BIGINT),
                        layers_new = s.layers_read, layers_gone = 0
                    FROM (SELECT run_id, count(*) AS n FROM run_images GROUP BY run_id) x,
                         (SELECT * FROM scan_runs WHERE run_id = {shape.Runs}) l
                    WHERE x.run_id = s.run_id AND s.run_id < {shape.Runs}
                    """);
            }

            Exec(c, log, "checkpoint", "CHECKPOINT");
        }

        log.WriteLine($"generated in {total.Elapsed.TotalSeconds:F0} s");
    }

    /// <summary>What a scan runs when it finishes (DuckDbScanStore.RunSnapshot: run_snapshot.sql), for run <paramref name="run"/>.</summary>
    internal static void RunSnapshot(LayerStatsDatabase db, int run, long batchRows, Action<string, TimeSpan>? trace)
    {
        var store = new DuckDbScanStore(db) { DerivedBatchRows = batchRows, SnapshotTrace = trace };
        store.RunSnapshot(run);
        if (store.Warnings.Count > 0)
        {
            throw new InvalidOperationException(string.Join("; ", store.Warnings));
        }
    }

    private static void Exec(DuckDB.NET.Data.DuckDBConnection c, TextWriter log, string name, string sql)
    {
        var sw = Stopwatch.StartNew();
        using var cmd = c.CreateCommand();
        cmd.CommandText = sql;
        cmd.ExecuteNonQuery();
        log.WriteLine($"  {name,-34} {sw.Elapsed.TotalSeconds,8:F1} s");
        log.Flush();
    }

    private static IEnumerable<(string Name, string Sql)> Statements(StoreShape s)
    {
        string I = s.Images.ToString(CultureInfo.InvariantCulture);
        string F = s.Files.ToString(CultureInfo.InvariantCulture);
        string B = s.Bases.ToString(CultureInfo.InvariantCulture);
        string R = s.Roots.ToString(CultureInfo.InvariantCulture);
        string N = s.Runs.ToString(CultureInfo.InvariantCulture);
        // The pool of shared contents: one per 20 file rows.
        string P = Math.Max(1, s.Files / 20).ToString(CultureInfo.InvariantCulture);

        yield return ("macros", """
            CREATE TEMP MACRO u(x, k) AS (hash(x, k) % 1000003) / 1000003.0;
            CREATE TEMP MACRO z(x, k) AS (u(x, k) + u(x, k + 100) + u(x, k + 200) + u(x, k + 300) - 2.0) * 1.7320508;
            CREATE TEMP MACRO hex(x, k) AS sha256(k || '-' || x);
            CREATE TEMP MACRO ih(x, k) AS CAST(hash(x, k) % 2147483647 AS BIGINT);
            """);

        yield return ("images", $"""
            CREATE TEMP TABLE g_images AS
            SELECT i, CAST(floor({B} * pow(u(i, 1), 1.6)) AS INTEGER) AS base, i // 3 AS app,
                   1 + CAST(hash(i, 2) % 4 AS INTEGER) AS own,
                   1 + CAST(floor(({N} - 1) * sqrt(u(i, 3))) AS INTEGER) AS first_run,
                   'sha256:' || hex(i, 'manifest') AS image_id
            FROM range({I}) t(i)
            """);

        // Root (position 0), the base's own 2-4 layers, the app's dependencies layer, the image's own 1-4 layers.
        yield return ("image layer plan", $"""
            CREATE TEMP TABLE g_il AS
            SELECT i, 0 AS pos, 'root' AS role, base % {R} AS k1, 0 AS k2 FROM g_images
            UNION ALL SELECT i, 1 + x, 'base', base, x FROM (SELECT i, base, unnest(range(2 + base % 3)) AS x FROM g_images)
            UNION ALL SELECT i, 3 + base % 3, 'app', app, 0 FROM g_images
            UNION ALL SELECT i, 4 + base % 3 + y, 'own', i, y FROM (SELECT i, base, unnest(range(own)) AS y FROM g_images)
            """);

        yield return ("layer plan", $"""
            CREATE TEMP TABLE g_layers AS
            WITH l AS (SELECT role, k1, k2, min(first_run) AS run_id
                       FROM g_il JOIN g_images USING (i) GROUP BY ALL),
                 w AS (SELECT row_number() OVER (ORDER BY run_id, role, k1, k2) - 1 AS lid, *,
                              CASE role WHEN 'root' THEN 40 WHEN 'base' THEN 12 WHEN 'app' THEN 6 ELSE 1 END
                                * exp(0.8 * z(hash(role, k1, k2), 5)) AS weight
                       FROM l),
                 e AS (SELECT *, greatest(1, CAST(round(weight * {F} / sum(weight) OVER ()) AS BIGINT)) AS n FROM w),
                 fixed AS (SELECT *, CASE WHEN row_number() OVER (ORDER BY n DESC, lid) = 1
                                          THEN n + {F} - sum(n) OVER () ELSE n END AS entries FROM e)
            SELECT lid, role, k1, k2, run_id, CAST(entries AS BIGINT) AS entries,
                   CAST(sum(entries) OVER (ORDER BY lid ROWS UNBOUNDED PRECEDING) - entries AS BIGINT) AS o,
                   'sha256:' || hex(lid, 'blob') AS digest, 'sha256:' || hex(lid, 'diff') AS diff_id,
                   TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(lid * 600) AS mtime
            FROM fixed
            """);

        yield return ("files", $"""
            INSERT INTO files
            WITH e AS (SELECT lid, diff_id, role, o, mtime, unnest(range(entries)) AS seq FROM g_layers),
                 r AS (SELECT *, o + seq AS g, hash(o + seq, 11) % 10000 AS ku FROM e),
                 k AS (SELECT *, CASE WHEN ku < 8300 THEN 'file' WHEN ku < 9100 THEN 'dir' WHEN ku < 9650 THEN 'symlink'
                                      WHEN ku < 9700 THEN 'hardlink' WHEN role = 'own' AND ku < 9780 THEN 'whiteout'
                                      WHEN role = 'own' AND ku < 9790 THEN 'opaque' ELSE 'file' END AS kind
                       FROM r),
                 c AS (SELECT *, CASE WHEN kind = 'file' AND hash(g, 12) % 1000 < 260
                                      THEN -1 - CAST(floor({P} * pow(u(g, 13), 3)) AS BIGINT) ELSE g END AS key
                       FROM k),
                 p AS (SELECT *,
                              ['usr/lib/x86_64-linux-gnu', 'usr/share/doc', 'usr/lib/python3/dist-packages', 'usr/share/locale',
                               'usr/include', 'usr/bin', 'etc', 'opt/app/node_modules', 'usr/local/lib/python3.12/site-packages',
                               'usr/share/zoneinfo', 'var/lib/dpkg/info', 'usr/share/man/man1', 'app/src',
                               'usr/lib/jvm/java-17-openjdk-amd64/lib', 'root/.cache/pip'][1 + ih(key, 21) % 15]
                                || '/' || ['pkg', 'lib', 'mod', 'x', '@types'][1 + ih(key, 26) % 5] || (hash(key, 22) % 2000) AS dir,
                              ['lib', 'mod', 'index', 'util', 'data', 'test', 'README', 'LICENSE', 'core', 'main'][1 + ih(key, 23) % 10]
                                || (hash(key, 24) % 500)
                                || ['.so', '.so.1', '.py', '.pyc', '.js', '.json', '.h', '.txt', '.gz', '.mo', '', '.md', '.conf',
                                    '.list', '.class'][1 + ih(key, 25) % 15] AS name
                       FROM c)
            SELECT diff_id, CAST(seq AS INTEGER),
                   CASE kind WHEN 'dir' THEN dir WHEN 'whiteout' THEN dir || '/.wh.' || name
                             WHEN 'opaque' THEN dir || '/.wh..wh..opq' ELSE dir || '/' || name END,
                   kind,
                   CASE WHEN kind = 'file' THEN CAST(least(2000000000, round(exp(8.2 + 1.9 * z(key, 31)))) AS BIGINT) ELSE 0 END,
                   CASE kind WHEN 'dir' THEN 493 WHEN 'symlink' THEN 511 ELSE CASE WHEN hash(key, 27) % 5 = 0 THEN 493 ELSE 420 END END,
                   CASE WHEN hash(g, 28) % 50 = 0 THEN 1000 ELSE 0 END,
                   CASE WHEN hash(g, 28) % 50 = 0 THEN 1000 ELSE 0 END,
                   mtime,
                   CASE kind WHEN 'symlink' THEN name || '.' || (g % 10) WHEN 'hardlink' THEN dir || '/' || name || '.orig' END,
                   CASE WHEN kind = 'file' THEN hash(key, 41)::UHUGEINT * 18446744073709551616::UHUGEINT + hash(key, 42)::UHUGEINT END,
                   NULL, lid
            FROM p
            ORDER BY lid, seq
            """);

        yield return ("layer_contents", """
            INSERT INTO layer_contents
            SELECT f.diff_id, sum(512 + (f.size + 511) // 512 * 512) + 1024, count(*), 'xxh128', any_value(l.run_id), any_value(l.lid)
            FROM files f JOIN g_layers l ON l.diff_id = f.diff_id
            GROUP BY f.diff_id
            """);

        yield return ("layers", """
            INSERT INTO layers
            SELECT l.digest, CAST(round(c.uncompressed_size * (0.22 + 0.2 * u(l.lid, 61))) AS BIGINT),
                   'application/vnd.oci.image.layer.v1.tar+gzip', 'gzip', l.diff_id, c.uncompressed_size, false, l.run_id
            FROM g_layers l JOIN layer_contents c ON c.diff_id = l.diff_id
            """);

        yield return ("image_layers", """
            INSERT INTO image_layers
            SELECT g.image_id, p.pos, l.digest, l.diff_id,
                   CASE p.role WHEN 'root' THEN '/bin/sh -c #(nop) ADD file:' || substr(hex(l.lid, 'add'), 1, 64) || ' in / '
                               WHEN 'base' THEN '/bin/sh -c apt-get update && apt-get install -y --no-install-recommends pkg' || p.k1 || '-' || p.k2 || ' && rm -rf /var/lib/apt/lists/*'
                               WHEN 'app' THEN 'RUN /bin/sh -c pip install --no-cache-dir -r requirements.txt # app' || p.k1
                               ELSE 'COPY dir:' || substr(hex(l.lid, 'copy'), 1, 64) || ' in /app/ ' END
            FROM g_il p JOIN g_images g USING (i) JOIN g_layers l USING (role, k1, k2)
            """);

        yield return ("images", $"""
            INSERT INTO images
            WITH t AS (SELECT il.image_id, count(*) AS layer_count, sum(l.size) AS comp, sum(l.uncompressed_size) AS uncomp,
                              sum(l.uncompressed_size) FILTER (WHERE il.position > 0) AS user_size
                       FROM image_layers il JOIN layers l USING (digest) GROUP BY il.image_id)
            SELECT g.image_id, g.image_id, 'application/vnd.oci.image.manifest.v1+json', 'sha256:' || hex(g.i, 'config'),
                   'linux', CASE WHEN g.i % 10 = 9 THEN 'arm64' ELSE 'amd64' END, CASE WHEN g.i % 10 = 9 THEN 'v8' END,
                   TIMESTAMPTZ '2024-03-01 00:00:00+00' + to_seconds(g.i * 97),
                   t.layer_count, t.comp, t.uncomp,
                   CAST(round(t.uncomp * 0.03 * u(g.i, 71)) AS BIGINT), CAST(hash(g.i, 72) % 400 AS BIGINT),
                   0.85 + 0.15 * u(g.i, 73), CAST(round(t.uncomp * 0.04 * u(g.i, 74)) AS BIGINT),
                   0.05 * u(g.i, 75), t.uncomp, t.user_size, g.first_run, {N}
            FROM g_images g JOIN t USING (image_id)
            """);

        // Every image has a repository:tag; a fifth have a second tag; every 10th image (arm64) shares its tag with the
        // amd64 image before it through an index.
        yield return ("image_refs", $"""
            INSERT INTO image_refs
            SELECT image_id, 'registry.example.com/team' || (app % 50) || '/app' || (app // 2) || ':' || tag,
                   'team' || (app % 50) || '/app' || (app // 2), tag,
                   CASE WHEN i % 10 >= 8 THEN 'sha256:' || hex(i // 2, 'index') END, first_run, {N}
            FROM (SELECT i, app, image_id, first_run, 'v1.' || (CASE WHEN i % 10 = 9 THEN i - 1 ELSE i END) % 7 AS tag FROM g_images
                  UNION ALL SELECT i, app, image_id, first_run, 'latest' FROM g_images WHERE hash(i, 81) % 5 = 0)
            """);

        yield return ("scan_runs, run_images", $"""
            INSERT INTO scan_runs
            SELECT k, TIMESTAMPTZ '2024-05-01 02:00:00+00' + to_days(CAST(k AS INTEGER)),
                   TIMESTAMPTZ '2024-05-01 02:00:00+00' + to_days(CAST(k AS INTEGER)) + to_seconds(1200 + k * 30),
                   'ok', '1.0.0', 'xxh128', 400, (SELECT count(*) FROM g_images WHERE first_run <= k), 0,
                   (SELECT count(*) FROM g_layers WHERE run_id = k), (SELECT count(*) FROM g_layers WHERE run_id < k),
                   (SELECT coalesce(sum(l.size), 0) FROM layers l WHERE l.run_id = k), 0,
                   NULL, NULL, NULL, NULL, NULL, NULL, NULL
            FROM range(1, {N} + 1) t(k);
            INSERT INTO run_images SELECT k, image_id FROM range(1, {N} + 1) t(k) JOIN g_images ON first_run <= k;
            """);
    }
}
