using System.Diagnostics;
using LayerStats.Core.Images;
using LayerStats.Core.Layers;
using LayerStats.Core.Model;
using LayerStats.Core.Registry;
using LayerStats.Core.Scanning;
using LayerStats.Core.Sources;
using LayerStats.Storage;

namespace LayerStats.Cli.Commands;

/// <summary><c>layerstats scan --db FILE [options] INPUT...</c></summary>
public static class ScanCommand
{
    public const string Usage = """
        usage: layerstats scan --db FILE [--jobs N] [--file-hash xxh128|sha256] [--platform os/arch[/variant]] [--summary] [--quiet] [--timings]
                               [registry options] INPUT...

        INPUT is a docker save tarball (legacy or Docker 25+), an OCI layout directory or tarball, any of these
        gzipped, or one of docker-archive:PATH[:ref], oci:PATH[:ref], oci-archive:PATH[:ref], or a registry:
        docker://HOST[:PORT]/NAME:TAG (one tag), docker://HOST/NAME@sha256:... (one digest), docker://HOST/NAME
        (every tag), docker://HOST (every repository of the catalog), docker://alpine (Docker Hub, :latest).
          --db FILE         the DuckDB database to create or update
          --jobs N          layers read at once (default: one per core)
          --file-hash H     xxh128 (default) or sha256 (adds SHA-256 per file)
          --platform P      keep only images of this platform (os/arch[/variant])
          --summary         print the summary report (as 'report summary' does) when the scan is done
          --quiet           no progress and no closing line on stderr
          --timings         print where the time went on stderr (phases, writer, workers)
        registry options:
          --username U --password-stdin   credentials for the registries scanned (password read from stdin);
                            otherwise $REGISTRY_AUTH_FILE, containers auth.json, $DOCKER_CONFIG/config.json or
                            ~/.docker/config.json (auths, credHelpers, credsStore) are used
          --auth-file PATH  read credentials from this file only (docker config.json or containers auth.json)
          --insecure-registry HOST  allow plain http and unchecked TLS for HOST[:PORT] (repeatable; loopback
                            hosts may always use plain http)
          --registry-jobs N requests in flight per registry (default 4)
          --retry-time S    seconds one request may spend retrying (default 60)
        """;

    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var a = Arguments.Parse(args, new HashSet<string> { "--db", "--jobs", "--file-hash", "--platform", "--username", "--auth-file", "--insecure-registry", "--registry-jobs", "--retry-time" }, new HashSet<string> { "--quiet", "--summary", "--password-stdin", "--timings" });
        string db = a.Required("--db");
        if (a.Positionals.Count == 0)
        {
            throw new UsageException("scan needs at least one INPUT");
        }

        int jobs = a.Int("--jobs", 1, 256) ?? 0;
        var hashing = a.Value("--file-hash") switch
        {
            null or "xxh128" => FileHashing.Xxh128,
            "sha256" => FileHashing.Xxh128AndSha256,
            var other => throw new UsageException($"--file-hash takes xxh128 or sha256, not '{other}'"),
        };
        Platform? platform;
        try
        {
            platform = a.Value("--platform") is { } p ? Platform.Parse(p) : null;
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }

        bool quiet = a.Flag("--quiet");
        using var registry = new RegistrySession(RegistryOptionsFrom(a, stderr));
        bool timings = a.Flag("--timings");
        var cpuAtStart = timings ? Process.GetCurrentProcess().TotalProcessorTime : TimeSpan.Zero;
        var clock = Stopwatch.StartNew(); // the scan's own clock: from opening the database (process start excluded)
        LayerStatsDatabase? database = null;
        DuckDbScanStore? store = null;
        var openTime = TimeSpan.Zero;
        // The pipeline opens the database on a task of its own while it lists the sources (independent work, one on each
        // core). A source's config look-up (registries) waits until the database is open and the run begun; the store is
        // free for it from then until the plan starts, which is after every source is listed.
        ScanPipeline? pipeline = null;
        byte[]? KnownConfig(Digest digest)
        {
            pipeline!.StoreReady.Wait(ct);
            return store?.FindConfig(digest);
        }

        var sourceOptions = new ImageSourceOptions { PlatformFilter = platform, KnownConfig = KnownConfig };
        var sources = a.Positionals.Select(input => ImageSources.Open(input, sourceOptions, registry)).ToList();
        try
        {
            pipeline = new ScanPipeline(
                () =>
                {
                    database = LayerStatsDatabase.Open(db);
                    openTime = clock.Elapsed;
                    return store = new DuckDbScanStore(database);
                },
                new ScanOptions(jobs, hashing, ToolInfo.Version));
            using var progress = !quiet && !Console.IsErrorRedirected ? new ProgressLine(pipeline.Progress, stderr) : null;
            ScanSummary summary;
            try
            {
                summary = await pipeline.RunAsync(sources, ct);
            }
            finally
            {
                progress?.Dispose();
            }

            var checkpointClock = Stopwatch.StartNew();
            database!.Checkpoint();
            var checkpointTime = checkpointClock.Elapsed;
            var ownClock = clock.Elapsed;
            var ownCpu = timings ? Process.GetCurrentProcess().TotalProcessorTime - cpuAtStart : TimeSpan.Zero;

            foreach (var error in summary.Errors)
            {
                stderr.WriteLine($"error: {Describe(error)}");
            }

            foreach (string warning in store!.Warnings)
            {
                stderr.WriteLine($"warning: {warning}");
            }

            if (platform is not null && summary.ImagesOk + summary.ImagesFailed == 0)
            {
                stderr.WriteLine($"warning: no image in the inputs is for platform {platform}");
            }

            if (!quiet)
            {
                stderr.WriteLine(
                    $"scanned {summary.ImagesOk} image(s) in {ownClock.TotalSeconds:0.00} s: {summary.LayersRead} layer(s) read " +
                    $"({ResultWritersFacade.Human(summary.BytesRead)}), {summary.LayersSkipped} already stored; " +
                    $"{summary.ImagesFailed} image(s) failed, {summary.Errors.Count} error(s) (run {summary.RunId})");
            }

            if (timings)
            {
                stderr.WriteLine($"{"open database",-44} {openTime.TotalSeconds,8:0.000} s");
                foreach (var phase in database.OpenPhases)
                {
                    stderr.WriteLine($"{"  " + phase.Name,-44} {phase.Time.TotalSeconds,8:0.000} s");
                }

                stderr.WriteLine($"{"begin the run (its row)",-44} {pipeline.BeginRunTime.TotalSeconds,8:0.000} s");
                foreach (var (name, time) in pipeline.Timings.Rows())
                {
                    stderr.WriteLine($"{name,-44} {time.TotalSeconds,8:0.000} s");
                }

                stderr.WriteLine($"{"checkpoint (log into the file)",-44} {checkpointTime.TotalSeconds,8:0.000} s");
                // Opening (and beginning the run) runs alongside listing, so the phases above add up to more than the whole.
                stderr.WriteLine($"{"own clock (open to checkpoint)",-44} {ownClock.TotalSeconds,8:0.000} s");
                stderr.WriteLine($"{"  CPU in it (user+sys, all threads)",-44} {ownCpu.TotalSeconds,8:0.000} s");
            }

            if (a.Flag("--summary"))
            {
                var result = ReportQueries.Run(database, ReportQueries.SqlFor("summary"));
                LayerStats.Reports.ResultWriters.Write(result, LayerStats.Reports.OutputFormat.Table, stdout, singleObject: true);
            }

            return summary.Errors.Count > 0 ? ExitCodes.InputsFailed : ExitCodes.Success;
        }
        finally
        {
            foreach (var source in sources)
            {
                await source.DisposeAsync();
            }

            store?.Dispose();
            database?.Dispose();
        }
    }

    private static RegistryOptions RegistryOptionsFrom(Arguments a, TextWriter stderr)
    {
        string? username = a.Value("--username");
        bool passwordStdin = a.Flag("--password-stdin");
        if ((username is null) != !passwordStdin)
        {
            throw new UsageException("--username and --password-stdin go together");
        }

        RegistryCredential? credential = null;
        if (username is not null)
        {
            string password = (Console.In.ReadToEnd() ?? "").TrimEnd('\r', '\n');
            if (password.Length == 0)
            {
                throw new UsageException("--password-stdin read an empty password");
            }

            credential = new RegistryCredential(username, password, null, "--username");
        }

        var gate = new Lock();
        return new RegistryOptions
        {
            Credentials = new CredentialSettings { Explicit = credential, AuthFile = a.Value("--auth-file") },
            InsecureRegistries = a.Values("--insecure-registry"),
            JobsPerRegistry = a.Int("--registry-jobs", 1, 64) ?? 4,
            RetryBudget = TimeSpan.FromSeconds(a.Int("--retry-time", 0, 86400) ?? 60),
            UserAgent = $"layerstats/{ToolInfo.Version}",
            Warn = message =>
            {
                lock (gate)
                {
                    stderr.WriteLine($"warning: {message}");
                }
            },
        };
    }

    private static string Describe(ScanError e)
    {
        var parts = new List<string> { e.Source };
        if (e.Image is not null)
        {
            parts.Add($"image {e.Image}");
        }

        if (e.Layer is not null && e.Message.IndexOf(e.Layer, StringComparison.Ordinal) < 0)
        {
            parts.Add($"layer {e.Layer}");
        }

        if (e.Path is not null)
        {
            parts.Add($"path '{e.Path}'");
        }

        return $"{string.Join(", ", parts)}: {e.Message}";
    }

    /// <summary>One self-overwriting progress line on a terminal: layers, bytes, rate.</summary>
    private sealed class ProgressLine : IDisposable
    {
        private readonly Timer _timer;
        private readonly TextWriter _writer;
        private readonly ScanProgress _progress;
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Lock _gate = new();
        private bool _drawn;

        public ProgressLine(ScanProgress progress, TextWriter writer)
        {
            _progress = progress;
            _writer = writer;
            _timer = new Timer(_ => Draw(), null, 500, 500);
        }

        public void Dispose()
        {
            _timer.Dispose();
            lock (_gate)
            {
                if (_drawn)
                {
                    _writer.Write("\r\x1b[K");
                }
            }
        }

        private void Draw()
        {
            lock (_gate)
            {
                double seconds = Math.Max(_clock.Elapsed.TotalSeconds, 0.001);
                long bytes = _progress.BytesRead;
                _writer.Write($"\r\x1b[Klayers {_progress.LayersDone}/{_progress.LayersTotal}  {ResultWritersFacade.Human(bytes)}/{ResultWritersFacade.Human(_progress.BytesTotal)}  {ResultWritersFacade.Human((long)(bytes / seconds))}/s");
                _drawn = true;
            }
        }
    }
}
