using System.Runtime.InteropServices;

namespace LayerStats.Storage;

/// <summary>
/// The native allocator under DuckDB. libduckdb (linux-x64) carries its own jemalloc (symbols prefixed
/// <c>duckdb_je_</c>), configured by DuckDB to keep the pages DuckDB frees ("dirty", then "muzzy") for about a second
/// per arena, and its decay only advances when that arena allocates again. A sort or a join that frees 100 MB at once
/// therefore stays resident: in a scan of a million-file layer jemalloc held 70-140 MB of freed pages beside 20-40 MB
/// of live allocations (benchmarks/README.md, "Peak memory"). <see cref="Purge"/> gives them back; the
/// <see cref="Purger"/> does so on a timer while a scan runs. Where libduckdb has no jemalloc (other platforms), every
/// call here does nothing.
/// </summary>
internal static class NativeMemory
{
    /// <summary>jemalloc's MALLCTL_ARENAS_ALL: "arena.4096.purge" purges every arena.</summary>
    private const string PurgeAllArenas = "arena.4096.purge";

    private static volatile bool _unavailable;

    [DllImport("duckdb", EntryPoint = "duckdb_je_mallctl")]
    private static extern int Mallctl([MarshalAs(UnmanagedType.LPUTF8Str)] string name, IntPtr oldp, IntPtr oldlenp, IntPtr newp, nuint newlen);

    /// <summary>Gives the pages every arena keeps unused back to the system now (a few ms: madvise of what is free); false without jemalloc.</summary>
    internal static bool Purge() => Control(PurgeAllArenas, null) == 0;

    /// <summary>jemalloc's figures (refreshed): bytes allocated, resident, and pages kept unused (dirty + muzzy) in bytes; null without jemalloc.</summary>
    internal static (long Allocated, long Resident, long Unused)? Read()
    {
        _ = Control("epoch", 1);
        return (Read("stats.allocated"), Read("stats.resident"), Read("stats.arenas.4096.pdirty"), Read("stats.arenas.4096.pmuzzy")) is
            ({ } allocated, { } resident, { } dirty, { } muzzy)
            ? (allocated, resident, (dirty + muzzy) * Environment.SystemPageSize)
            : null;
    }

    /// <summary>jemalloc's own account (refreshed), for LAYERSTATS_MEMORY_TRACE: allocated, resident and unused (dirty + muzzy) MiB.</summary>
    internal static string Stats() => Read() is { } je
        ? FormattableString.Invariant($"jemalloc allocated {je.Allocated >> 20} resident {je.Resident >> 20} unused {je.Unused >> 20} MiB")
        : "no jemalloc";

    /// <summary>Reads a size_t control; null when it cannot be read.</summary>
    private static long? Read(string name)
    {
        if (_unavailable)
        {
            return null;
        }

        IntPtr value = Marshal.AllocHGlobal(16);
        try
        {
            IntPtr length = value + 8;
            Marshal.WriteInt64(value, 0);
            Marshal.WriteInt64(length, 8);
            return Call(name, value, length, IntPtr.Zero, 0) == 0 ? Marshal.ReadInt64(value) : null;
        }
        finally
        {
            Marshal.FreeHGlobal(value);
        }
    }

    /// <summary>Writes an 8-byte control, or runs a command (value null); the mallctl result (0 = done).</summary>
    private static int Control(string name, long? value)
    {
        if (_unavailable)
        {
            return -1;
        }

        if (value is null)
        {
            return Call(name, IntPtr.Zero, IntPtr.Zero, IntPtr.Zero, 0);
        }

        IntPtr buffer = Marshal.AllocHGlobal(8);
        try
        {
            Marshal.WriteInt64(buffer, value.Value);
            return Call(name, IntPtr.Zero, IntPtr.Zero, buffer, 8);
        }
        finally
        {
            Marshal.FreeHGlobal(buffer);
        }
    }

    private static int Call(string name, IntPtr oldp, IntPtr oldlenp, IntPtr newp, nuint newlen)
    {
        try
        {
            return Mallctl(name, oldp, oldlenp, newp, newlen);
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException)
        {
            _unavailable = true; // a libduckdb without jemalloc: nothing to purge
            return -1;
        }
    }

    /// <summary>Purges every <paramref name="interval"/> on a thread of its own until disposed.</summary>
    internal sealed class Purger : IDisposable
    {
        private readonly ManualResetEventSlim _stop = new();
        private readonly Thread _thread;

        internal Purger(TimeSpan interval)
        {
            // A thread of its own, not a timer: a timer's callbacks queue behind the scan's busy thread-pool threads.
            _thread = new Thread(() =>
            {
                while (!_stop.Wait(interval) && Purge())
                {
                }
            })
            {
                IsBackground = true,
                Name = "jemalloc purge",
            };
            _thread.Start();
        }

        public void Dispose()
        {
            _stop.Set();
            _thread.Join();
            _stop.Dispose();
        }
    }
}
