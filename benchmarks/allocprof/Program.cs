using Microsoft.Diagnostics.Tracing;

// usage: LayerStats.AllocProfile TRACE.nettrace [TOP]
// TRACE from: dotnet-trace collect --profile gc-verbose -o TRACE.nettrace -- layerstats scan --db X --quiet INPUT...
// Sums the runtime's allocation-tick samples (one per ~100 KB allocated) by type, and lists the collections.
if (args.Length is < 1 or > 2)
{
    Console.Error.WriteLine("usage: LayerStats.AllocProfile TRACE.nettrace [TOP]");
    return 2;
}

int top = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 20;
var bytesByType = new Dictionary<string, long>(StringComparer.Ordinal);
long total = 0;
var collections = new List<string>();
using (var source = new EventPipeEventSource(args[0]))
{
    source.Clr.GCAllocationTick += e =>
    {
        string type = e.TypeName ?? "?";
        bytesByType[type] = bytesByType.GetValueOrDefault(type) + e.AllocationAmount64;
        total += e.AllocationAmount64;
    };
    source.Clr.GCStart += e => collections.Add($"#{e.Count} gen{e.Depth} ({e.Reason})");
    source.Process();
}

Console.WriteLine($"allocated (sampled): {total / 1048576.0:0.0} MiB; {collections.Count} collections: {string.Join(", ", collections)}");
foreach (var (type, bytes) in bytesByType.OrderByDescending(kv => kv.Value).Take(top).Select(kv => (kv.Key, kv.Value)))
{
    Console.WriteLine($"{bytes / 1048576.0,8:0.0} MiB  {type}");
}

return 0;
