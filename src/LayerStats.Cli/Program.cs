using LayerStats.Cli.Commands;
using LayerStats.Storage;

namespace LayerStats.Cli;

public static class Program
{
    public const string Usage = """
        layerstats: where do your container image bytes go, and how much of them is stored more than once?

        usage: layerstats COMMAND [options]

        commands:
          scan     read images (docker save tarballs, OCI layouts, registries) into a DuckDB database
          report   print a report (summary, images, shared-layers, shared-bases, duplicates, trend; csv; html)
          query    run SQL against the database (read-only unless --write)
          check    the gate: PASS/FAIL rules (dive's and LayerStats' own) per image and overall
          run      the nightly job from a config file: scan + reports + gate

        'layerstats COMMAND --help' tells more. Exit codes: 0 ok, 1 some inputs failed, 2 usage error,
        3 gate failed, 4 could not run (database, query), 130 interrupted.
        """;

    public static async Task<int> Main(string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            cts.Cancel();
        };
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM,
            ctx =>
            {
                ctx.Cancel = true;
                cts.Cancel();
            });
        return await RunAsync(args, Console.Out, Console.Error, cts.Token);
    }

    private static void WriteUsage(TextWriter stdout, string usage) => stdout.Write(usage.EndsWith('\n') ? usage : usage + "\n");

    /// <summary>The one place where exceptions become exit codes.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        if (args.Count == 0 || args[0] is "--help" or "-h" or "help")
        {
            WriteUsage(stdout, Usage);
            return args.Count == 0 ? ExitCodes.Usage : ExitCodes.Success;
        }

        if (args[0] is "--version")
        {
            stdout.WriteLine($"layerstats {ToolInfo.Version}");
            return ExitCodes.Success;
        }

        string command = args[0];
        var rest = args.Skip(1).ToList();
        string usage = command switch
        {
            "scan" => ScanCommand.Usage,
            "report" => ReportCommand.Usage,
            "query" => QueryCommand.Usage,
            "check" => CheckCommand.Usage,
            "run" => RunCommand.Usage,
            _ => Usage,
        };
        if (rest.Contains("--help") || rest.Contains("-h"))
        {
            WriteUsage(stdout, usage);
            return ExitCodes.Success;
        }

        try
        {
            return command switch
            {
                "scan" => await ScanCommand.RunAsync(rest, stdout, stderr, ct),
                "report" => ReportCommand.Run(rest, stdout),
                "query" => QueryCommand.Run(rest, stdout),
                "check" => CheckCommand.Run(rest, stdout),
                "run" => await RunCommand.RunAsync(rest, stdout, stderr, ct),
                _ => throw new UsageException($"unknown command '{command}'"),
            };
        }
        catch (UsageException ex)
        {
            stderr.WriteLine($"layerstats: {ex.Message}");
            stderr.WriteLine($"(see 'layerstats {(command is "scan" or "report" or "query" or "check" or "run" ? command + " " : "")}--help')");
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            stderr.WriteLine("layerstats: interrupted; run the same command again to complete the work");
            return ExitCodes.Cancelled;
        }
        catch (ReportOutOfMemoryException ex)
        {
            stderr.WriteLine($"layerstats: {ex.Message}");
            return ExitCodes.Error;
        }
        catch (QueryException ex)
        {
            stderr.WriteLine($"layerstats: query failed: {ex.Message}");
            return ExitCodes.Error;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidOperationException or DuckDB.NET.Data.DuckDBException)
        {
            stderr.WriteLine($"layerstats: {ex.Message}");
            return ExitCodes.Error;
        }
    }
}
