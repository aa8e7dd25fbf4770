using System.Net;
using LayerStats.Fixtures;
using LayerStats.Tests.Registry;

namespace LayerStats.Tests.Safety;

/// <summary>
/// An image on an in-process fake registry (loopback, so plain HTTP is allowed) whose one layer blob the test can hold:
/// after <see cref="Hold"/>, every GET of that blob is answered with its headers and part of the body, then nothing
/// more until <see cref="Release"/>. A scan with <see cref="Input"/> among its inputs cannot finish while the blob is
/// held (with <see cref="ScanArguments"/>, its retries outlast any test by far), so a test can act on a scan that is
/// surely still running, however loaded the machine: no moment picked by polling.
/// </summary>
public sealed class HeldRegistryImage : IDisposable
{
    public const string Repository = "safety/held";

    private readonly string _path;
    private TaskCompletionSource _holding = New();
    private TaskCompletionSource _released = New();
    private int _held;

    public HeldRegistryImage()
    {
        var files = new LayerBuilder(implicitParents: true);
        for (int i = 0; i < 300; i++)
        {
            files.File($"held/d{i % 10}/f{i}.txt", Content.Text($"held-{i}", 8));
        }

        Layer = BuiltLayer.From(files, LayerCompression.Gzip);
        Image = new ImageBuilder().Layer(Layer, "COPY held").Build();
        Registry.Push(Repository, Image, "1");
        _path = $"/v2/{Repository}/blobs/{Layer.Digest}";
        _released.SetResult(); // open until Hold
        Registry.Intercept = InterceptAsync;
    }

    public FakeRegistry Registry { get; } = new();

    public BuiltLayer Layer { get; }

    public BuiltImage Image { get; }

    /// <summary>The scan input: the repository on the fake registry.</summary>
    public string Input => Registry.Input(Repository);

    /// <summary>
    /// Scan options for a child that is to be held: one request may retry for a day (the maximum), so a held blob
    /// (its reads stall, then resume with Range requests, which are held too) never fails the image and ends the scan.
    /// </summary>
    public static IReadOnlyList<string> ScanArguments => ["--retry-time", "86400"];

    /// <summary>
    /// How long a test waits for a held child to reach a point it surely reaches (the blob asked for, its log grown) or,
    /// once signalled, to stop, before it gives up and fails: only a broken scan takes this long; a pass never depends on it.
    /// </summary>
    public static TimeSpan Patience { get; } = TimeSpan.FromMinutes(3);

    /// <summary>Completes when a GET of the blob has been answered with its headers and first bytes and is being held.</summary>
    public Task Holding => _holding.Task;

    /// <summary>GETs of the blob held so far (a resumed read is one more).</summary>
    public int Held => Volatile.Read(ref _held);

    /// <summary>
    /// From now on, GETs of the blob are held until <see cref="Release"/>; <see cref="Holding"/> starts afresh (for the
    /// next scan: a held scan killed, then another one held).
    /// </summary>
    public void Hold()
    {
        _holding = New();
        if (_released.Task.IsCompleted)
        {
            _released = New();
        }
    }

    /// <summary>Held GETs send the rest of the body (to whoever still listens); later ones are served at once.</summary>
    public void Release() => _released.TrySetResult();

    public void Dispose()
    {
        Release();
        Registry.Dispose();
    }

    private static TaskCompletionSource New() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<bool> InterceptAsync(HttpListenerContext context)
    {
        var released = _released.Task;
        if (released.IsCompleted || context.Request.HttpMethod != "GET" || context.Request.Url!.AbsolutePath != _path)
        {
            return false;
        }

        byte[] blob = Layer.Blob;
        var response = context.Response;
        int from = 0;
        string? range = context.Request.Headers["Range"];
        if (range is not null && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = int.Parse(range["bytes=".Length..^1], System.Globalization.CultureInfo.InvariantCulture);
            if (from >= blob.Length)
            {
                return false; // the normal answer (416)
            }

            response.StatusCode = 206;
            response.AddHeader("Content-Range", $"bytes {from}-{blob.Length - 1}/{blob.Length}");
        }
        else
        {
            response.StatusCode = 200;
        }

        response.ContentType = "application/octet-stream";
        response.AddHeader("Docker-Content-Digest", Layer.Digest);
        response.ContentLength64 = blob.Length - from;
        // Half of what is asked (at least a byte is held back): the reader has started on the layer when it stalls.
        int first = (blob.Length - from) / 2;
        await response.OutputStream.WriteAsync(blob.AsMemory(from, first));
        await response.OutputStream.FlushAsync();
        Interlocked.Increment(ref _held);
        _holding.TrySetResult();
        await released;
        await response.OutputStream.WriteAsync(blob.AsMemory(from + first));
        return true;
    }
}
