#!/usr/bin/env python3
"""Image tools benchmark: gptimage.alpha_mask of a 1024x1024 black-and-white
mask and gptimage.spritesheet of a 16-frame 1024x1024 GIF, against Python
with PIL doing the same (bench/imagetools_pil.py), in one run on the same
files.  The inputs are made here with PIL (a soft-edged shape for the mask,
a moving figure with a noisy background for the GIF, so neither compresses
to nothing).  Each figure is the median of --repeat processes; inside a
process the operation runs once to warm up, then --reps times, timed by the
process's own CPU clock; peak RSS is the whole process's (GNU time).
Appends nothing: prints the table and writes bench/imagetools_results.md.
Needs python3-pil (Debian); reports only, never fails on a time.

    bench/imagetools.py [--module-dir build/lua5.4] [--lua lua5.4] [--repeat 3] [--reps 5]
"""
import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (run_measured: CPU, wall and peak RSS of a child)

try:
    from PIL import Image, ImageDraw, ImageFilter
    import PIL
except ImportError:
    bench.fail("python3-pil is needed for the image tools benchmark (apt-get install python3-pil)")

BENCH_DIR = bench.BENCH_DIR
SOURCE_DIR = bench.SOURCE_DIR


def make_inputs(folder):
    mask_path = os.path.join(folder, "mask-bw.png")
    im = Image.new("L", (1024, 1024), 0)
    draw = ImageDraw.Draw(im)
    draw.ellipse((212, 112, 812, 912), fill=255)
    draw.rectangle((420, 700, 600, 1000), fill=255)
    im.filter(ImageFilter.GaussianBlur(6)).save(mask_path)

    gif_path = os.path.join(folder, "walk-16.gif")
    rng = random.Random(13)
    background = Image.new("RGB", (1024, 1024))
    background.putdata([(rng.randrange(40, 90), rng.randrange(90, 140), rng.randrange(40, 70))
                        for _ in range(1024 * 1024)])
    frames = []
    for i in range(16):
        frame = background.copy()
        draw = ImageDraw.Draw(frame)
        x = 100 + i * 48
        draw.ellipse((x, 300, x + 240, 540), fill=(230, 200, 60))
        draw.rectangle((x + 60, 540, x + 180, 860), fill=(200, 60, 60))
        frames.append(frame.convert("P", palette=Image.ADAPTIVE, colors=255))
    frames[0].save(gif_path, save_all=True, append_images=frames[1:], duration=80, loop=0, disposal=1)
    return mask_path, gif_path


def measure(argv, env, repeat):
    runs = [bench.run_measured(argv, env=env) for _ in range(repeat)]
    per_op = statistics.median(float(r.stdout.split()[0]) for r in runs)
    size = int(runs[-1].stdout.split()[1])
    rss = statistics.median(r.rss for r in runs)
    return per_op, size, rss


def main():
    parser = argparse.ArgumentParser(description="gptimage image tools vs PIL")
    parser.add_argument("--module-dir", default=os.environ.get("GPTIMAGE_BUILD_DIR") or
                        os.path.join(SOURCE_DIR, "build", "lua5.4"))
    parser.add_argument("--lua", default=os.environ.get("GPTIMAGE_LUA") or "lua5.4")
    parser.add_argument("--repeat", type=int, default=3, help="processes per case; the median is reported")
    parser.add_argument("--reps", type=int, default=5, help="runs of the operation inside each process")
    parser.add_argument("--results", default=os.path.join(BENCH_DIR, "imagetools_results.md"))
    args = parser.parse_args()
    module = os.path.join(os.path.abspath(args.module_dir), "gptimage.so")
    if not os.path.exists(module):
        bench.fail("no module at %s: build first or give --module-dir" % module)

    env = dict(os.environ)
    env["LUA_CPATH"] = os.path.dirname(module) + "/?.so;;"
    env["LUA_PATH"] = os.path.join(SOURCE_DIR, "lua", "?.lua") + ";;"
    python = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable
    rows = []
    started = datetime.datetime.now()
    with tempfile.TemporaryDirectory(prefix="gptimage-bench-images-") as folder:
        mask_path, gif_path = make_inputs(folder)
        cases = [("alpha_mask, 1024x1024 B&W PNG", "mask", mask_path),
                 ("spritesheet, 16-frame 1024x1024 GIF", "sheet", gif_path)]
        for label, op, path in cases:
            ours = measure([args.lua, os.path.join(BENCH_DIR, "imagetools_job.lua"), op, path, str(args.reps)],
                           env, args.repeat)
            theirs = measure([python, os.path.join(BENCH_DIR, "imagetools_pil.py"), op, path, str(args.reps)],
                             env, args.repeat)
            rows.append((label, ours, theirs))

    lines = ["# gptimage image tools vs PIL", "",
             "Latest run of `bench/imagetools.py`, %s." % started.strftime("%Y-%m-%d %H:%M"), "",
             "- machine: %s, %d cores" % (platform.machine(), os.cpu_count() or 0),
             "- PIL %s on Python %s; gptimage on %s (libspng, giflib)" % (PIL.__version__, platform.python_version(),
                                                                         args.lua),
             "- CPU ms per run: median of %d processes, each the mean of %d runs after one warm-up"
             % (args.repeat, args.reps), "",
             "| case | gptimage CPU ms | PIL CPU ms | gptimage / PIL | gptimage output | PIL output "
             "| gptimage peak RSS MiB | PIL peak RSS MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, ours, theirs in rows:
        lines.append("| %s | %.1f | %.1f | %.2fx | %d KiB | %d KiB | %.1f | %.1f |" % (
            label, ours[0] * 1000, theirs[0] * 1000, ours[0] / theirs[0] if theirs[0] else 0,
            ours[1] // 1024, theirs[1] // 1024, ours[2] / bench.MIB, theirs[2] / bench.MIB))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    with open(args.results, "w") as handle:
        handle.write(text)


if __name__ == "__main__":
    main()
