using System.Diagnostics;
using System.Net;
using System.Security.Authentication;

namespace LayerStats.Core.Registry;

/// <summary>A monotonic clock and a way to wait: real in production, virtual in tests.</summary>
internal interface IRetryClock
{
    TimeSpan Now { get; }

    Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken);
}

internal sealed class SystemRetryClock : IRetryClock
{
    public static SystemRetryClock Instance { get; } = new();

    public TimeSpan Now => Stopwatch.GetElapsedTime(0);

    public Task DelayAsync(TimeSpan delay, CancellationToken cancellationToken) =>
        delay <= TimeSpan.Zero ? Task.CompletedTask : Task.Delay(delay, cancellationToken);
}

/// <summary>The result of one attempt: a value, or a reason to try again (with the server's Retry-After, if any).</summary>
internal readonly record struct Attempt<T>(T? Value, string? RetryReason, TimeSpan? RetryAfter)
{
    public static Attempt<T> Done(T value) => new(value, null, null);

    public static Attempt<T> Again(string reason, TimeSpan? retryAfter = null) => new(default, reason, retryAfter);
}

/// <summary>
/// Retries with exponential backoff and full jitter within a total time budget per request.
/// </summary>
/// <remarks>
/// Retried: connection errors (<see cref="HttpRequestException"/> except TLS authentication failures, <see cref="IOException"/>),
/// attempt timeouts, and the statuses 408, 429, 500, 502, 503, 504 (the attempt says so). The wait before retry n (n = 1, 2, …)
/// is a uniform random part of min(cap, base × 2^(n-1)); a <c>Retry-After</c> (seconds or HTTP date) replaces it. Every wait is
/// cut to the budget that is left; once the budget is spent the last error becomes a <see cref="RegistryException"/>:
/// "registry HOST: GET /v2/…: gave up after N attempts over S s: last error …".
/// </remarks>
internal sealed class RetryPolicy(RegistryOptions options)
{
    public static bool IsRetryableStatus(HttpStatusCode status) =>
        (int)status is 408 or 429 or 500 or 502 or 503 or 504;

    /// <summary>The backoff before retry <paramref name="retry"/> (1-based) for a jitter draw in [0, 1).</summary>
    public static TimeSpan Backoff(int retry, TimeSpan baseDelay, TimeSpan cap, double jitter)
    {
        double ceiling = Math.Min(cap.TotalMilliseconds, baseDelay.TotalMilliseconds * Math.Pow(2, Math.Min(retry - 1, 30)));
        return TimeSpan.FromMilliseconds(ceiling * jitter);
    }

    /// <summary>A Retry-After header value as a wait: delta seconds, or an HTTP date (in the past: zero).</summary>
    public static TimeSpan? RetryAfter(System.Net.Http.Headers.RetryConditionHeaderValue? value, DateTimeOffset now)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Delta is { } delta)
        {
            return delta < TimeSpan.Zero ? TimeSpan.Zero : delta;
        }

        return value.Date is { } date ? (date > now ? date - now : TimeSpan.Zero) : null;
    }

    /// <summary>True for failures worth another attempt: the connection, not the request, went wrong.</summary>
    public static bool IsTransient(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        OperationCanceledException => !cancellationToken.IsCancellationRequested,
        HttpRequestException h => !HasAuthenticationFailure(h),
        RegistryException => false,
        IOException => true,
        TimeoutException => true,
        _ => false,
    };

    private static bool HasAuthenticationFailure(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
        {
            if (e is AuthenticationException)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Runs <paramref name="attempt"/> until it gives a value, fails for good, or the budget is spent.</summary>
    public async Task<T> ExecuteAsync<T>(string what, Func<CancellationToken, Task<Attempt<T>>> attempt, CancellationToken cancellationToken, TimeSpan? budget = null)
    {
        var clock = options.Clock;
        TimeSpan allowed = budget ?? options.RetryBudget;
        TimeSpan start = clock.Now;
        int attempts = 0;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            attempts++;
            string reason;
            TimeSpan? retryAfter = null;
            try
            {
                var result = await attempt(cancellationToken).ConfigureAwait(false);
                if (result.RetryReason is null)
                {
                    return result.Value!;
                }

                reason = result.RetryReason;
                retryAfter = result.RetryAfter;
            }
            catch (Exception ex) when (IsTransient(ex, cancellationToken))
            {
                reason = Describe(ex);
            }

            TimeSpan elapsed = clock.Now - start;
            TimeSpan left = allowed - elapsed;
            if (left <= TimeSpan.Zero)
            {
                throw new RegistryException($"{what}: gave up after {attempts} attempt{(attempts == 1 ? "" : "s")} over {elapsed.TotalSeconds:0.0} s: last error {reason}");
            }

            TimeSpan wait = retryAfter ?? Backoff(attempts, options.BaseBackoff, options.MaxBackoff, options.Random());
            await clock.DelayAsync(wait < left ? wait : left, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>An exception as one line, inner causes included (no secrets: these are transport messages).</summary>
    public static string Describe(Exception ex)
    {
        if (ex is OperationCanceledException)
        {
            return "timed out";
        }

        var parts = new List<string>();
        for (Exception? e = ex; e is not null && parts.Count < 3; e = e.InnerException)
        {
            if (parts.Count == 0 || !parts[^1].Contains(e.Message, StringComparison.Ordinal))
            {
                parts.Add(e.Message);
            }
        }

        return string.Join(": ", parts);
    }
}

/// <summary>A registry request that failed for good: the message names the registry, the request and the reason, never a secret.</summary>
public sealed class RegistryException : IOException
{
    public RegistryException(string message)
        : base(message)
    {
    }

    public RegistryException(string message, Exception inner)
        : base(message, inner)
    {
    }

    /// <summary>The HTTP status that ended the request, when one did.</summary>
    public HttpStatusCode? Status { get; init; }
}
