namespace LayerStats.Cli;

/// <summary>The exit codes of layerstats (documented in README.md).</summary>
public static class ExitCodes
{
    /// <summary>Everything worked.</summary>
    public const int Success = 0;

    /// <summary>The command ran, but some inputs failed (see scan_errors); every other input completed.</summary>
    public const int InputsFailed = 1;

    /// <summary>The command line was wrong.</summary>
    public const int Usage = 2;

    /// <summary>A gate rule failed (layerstats check).</summary>
    public const int GateFailed = 3;

    /// <summary>The command could not run: the database could not be opened or written, a query failed.</summary>
    public const int Error = 4;

    /// <summary>Interrupted (Ctrl+C / SIGTERM); a rerun completes the work.</summary>
    public const int Cancelled = 130;
}

/// <summary>A command-line mistake: printed with the usage hint, exit code 2.</summary>
public sealed class UsageException(string message) : Exception(message);
