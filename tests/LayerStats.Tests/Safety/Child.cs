using System.Diagnostics;
using System.Runtime.InteropServices;
using LayerStats.Fixtures;

namespace LayerStats.Tests.Safety;

/// <summary>
/// A real <c>layerstats</c> child process (<c>dotnet layerstats.dll ...</c>), optionally started through a wrapper
/// (bash for <c>ulimit</c>, setpriv for another user), and the POSIX signals the safety tests send it.
/// </summary>
public sealed class Child : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly Task<string> _stderr;

    private Child(Process process)
    {
        _process = process;
        _stdout = process.StandardOutput.ReadToEndAsync();
        _stderr = process.StandardError.ReadToEndAsync();
    }

    public static string Dll => typeof(LayerStats.Cli.Program).Assembly.Location;

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Starts <c>layerstats ARGS</c>; <paramref name="wrapper"/> is a command line put in front of <c>dotnet</c>.</summary>
    public static Child Start(IReadOnlyList<string> args, IReadOnlyList<string>? wrapper = null)
    {
        string[] command = [.. wrapper ?? [], "dotnet", Dll, .. args];
        var start = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string arg in command.Skip(1))
        {
            start.ArgumentList.Add(arg);
        }

        return new Child(Process.Start(start) ?? throw new InvalidOperationException($"cannot start {command[0]}"));
    }

    /// <summary>Runs <c>layerstats ARGS</c> to its end.</summary>
    public static (int Exit, string Stdout, string Stderr) Run(IReadOnlyList<string> args, IReadOnlyList<string>? wrapper = null)
    {
        using var child = Start(args, wrapper);
        return child.Wait();
    }

    public (int Exit, string Stdout, string Stderr) Wait()
    {
        _process.WaitForExit();
        return (_process.ExitCode, _stdout.Result, _stderr.Result);
    }

    /// <summary>Waits until the child has ended or <paramref name="limit"/> has passed; true if it ended.</summary>
    public bool WaitForExit(TimeSpan limit) => _process.WaitForExit(limit);

    /// <summary>
    /// Waits until <paramref name="task"/> has completed (true) or the child has ended first (false), or
    /// <paramref name="limit"/> has passed (false: for a child that cannot end, e.g. one held by <see cref="HeldRegistryImage"/>).
    /// </summary>
    public bool WaitFor(Task task, TimeSpan limit)
    {
        var exited = _process.WaitForExitAsync();
        Task.WaitAny([task, exited], limit);
        return task.IsCompleted;
    }

    /// <summary>
    /// Waits until <paramref name="file"/> has at least <paramref name="bytes"/> bytes, or <paramref name="orUntil"/> has
    /// completed; false if the child ended first (or <paramref name="limit"/> passed: for a child that cannot end, e.g.
    /// one held by <see cref="HeldRegistryImage"/>).
    /// </summary>
    public bool WaitForFile(string file, long bytes, TimeSpan? limit = null, Task? orUntil = null)
    {
        var info = new FileInfo(file);
        var clock = Stopwatch.StartNew();
        while (!_process.WaitForExit(2))
        {
            info.Refresh();
            if ((info.Exists && info.Length >= bytes) || orUntil?.IsCompleted == true)
            {
                return true;
            }

            if (clock.Elapsed > limit)
            {
                return false;
            }
        }

        return false;
    }

    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0)
        {
            throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _ = kill(_process.Id, Sigcont);
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit();
        }

        _process.Dispose();
    }

    public const int Sigint = 2;
    public const int Sigkill = 9;
    public const int Sigterm = 15;
    public const int Sigcont = 18;
    public const int Sigstop = 19;

    public static bool IsRoot => geteuid() == 0;

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392 // two plain libc calls; no marshalling to generate
    private static extern int kill(int pid, int sig);

    [DllImport("libc")]
    private static extern uint geteuid();
#pragma warning restore SYSLIB1054, CA5392
}

/// <summary>Image sets for the safety tests, written by the fixture builder (spec-correct archives).</summary>
public static class SafetyImages
{
    /// <summary>
    /// <paramref name="count"/> images over one shared base, each with an app layer of its own: a scan of the
    /// default 12 takes a few seconds and writes several MiB, so it can be stopped, killed or starved mid-way.
    /// </summary>
    public static string[] Write(string dir, int count = 12, int baseFiles = 4000, int appFiles = 2000)
    {
        var baseLayer = BuiltLayer.From(Tree("base", baseFiles, 600), LayerCompression.Gzip);
        var inputs = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var image = new ImageBuilder()
                .Layer(baseLayer, "ADD rootfs")
                .Layer(Tree("app" + i, appFiles, 900), i % 2 == 0 ? LayerCompression.Gzip : LayerCompression.Zstd, "COPY app")
                .Build()
                .Tagged($"app{i}:1");
            string path = System.IO.Path.Combine(dir, $"app{i}.tar");
            if (i % 3 == 0)
            {
                ArchiveWriter.DockerSaveLegacy(path, image);
            }
            else
            {
                ArchiveWriter.OciArchive(path, OciEntry.Of(image, $"app{i}:1"));
            }

            inputs.Add(path);
        }

        return inputs.ToArray();
    }

    private static LayerBuilder Tree(string seed, int files, int size)
    {
        var layer = new LayerBuilder(implicitParents: true);
        for (int i = 0; i < files; i++)
        {
            layer.File($"{seed}/d{i % 40}/f{i}.txt", Content.Text($"{seed}-{i % 500}", 1 + (size / 60)));
        }

        return layer;
    }
}
