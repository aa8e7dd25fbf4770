namespace LayerStats.Core.Registry;

/// <summary>How registries are reached: credentials, plain-HTTP hosts, concurrency, retries and timeouts.</summary>
public sealed record RegistryOptions
{
    public CredentialSettings Credentials { get; init; } = new();

    /// <summary>Hosts (host[:port], as written in the reference) that may be reached over plain HTTP or HTTPS without certificate checks (<c>--insecure-registry</c>).</summary>
    public IReadOnlyCollection<string> InsecureRegistries { get; init; } = [];

    /// <summary>
    /// Requests in flight at once per registry host (<c>--registry-jobs</c>); a blob's slot is held while its body streams.
    /// Also how many tag lists of a catalog, and how many tags' manifests, a registry source reads at once.
    /// </summary>
    public int JobsPerRegistry { get; init; } = 4;

    /// <summary>The total time one request may spend on retries (<c>--retry-time</c>): after it, the request fails.</summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The first backoff step; each retry doubles it up to <see cref="MaxBackoff"/>, and a random part of it is waited (full jitter).</summary>
    public TimeSpan BaseBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long one attempt may wait for the response headers.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a body read may wait for bytes before the connection is taken as dead (a blob then resumes).</summary>
    public TimeSpan ReadStallTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Page size asked of <c>_catalog</c> and <c>tags/list</c>.</summary>
    public int PageSize { get; init; } = 1000;

    /// <summary>Warnings (never with secrets), e.g. a credential helper that failed.</summary>
    public Action<string>? Warn { get; init; }

    public string UserAgent { get; init; } = "layerstats";

    /// <summary>Time and waiting, replaceable by tests.</summary>
    internal IRetryClock Clock { get; init; } = SystemRetryClock.Instance;

    /// <summary>Jitter source, replaceable by tests.</summary>
    internal Func<double> Random { get; init; } = System.Random.Shared.NextDouble;

    public static RegistryOptions Default { get; } = new();
}
