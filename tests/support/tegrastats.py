"""tegrastats lines from several JetPack releases, as the Jetson tests read them.

Sources of the sample lines:
- XAVIER: rbonghi/jetson_stats tests/tegrastats (its tegrastats emulator, Jetson AGX Xavier form:
  rails in mW without a unit, current/average).
- NANO: the same file's Jetson Nano example (POM_5V_IN rails).
- ORIN_JP7: rbonghi/jetson_stats jtop/tests/test_06_tegra_parse.py, "real tegrastats line from a
  Jetson AGX Orin Developer Kit running JetPack 7.2 (L4T R39.2)" (mW current/avg/max, GR3D per GPC).
- ORIN_JP6: the Orin JetPack 5/6 rail form "VDD_IN 5012mW/5012mW" (from jtop's fixtures), on
  the JetPack 6 GR3D form of the same jtop test file.
- The AGX Orin total: jtop (jtop/core/power.py) counts only VDD_IN / POM_5V_IN as the board's
  input and otherwise sums the rails; VIN_SYS_5V0 is the system 5 V supply monitor.
- THOR: jtop's test file, GR3D without utilisation.
"""

XAVIER = ("RAM 4722/7844MB (lfb 1x512kB) CPU [55%@2035,14%@2034,27%@2034,55%@2035,47%@2035,45%@2035]"
          " SWAP 149/1024MB (cached 7MB) EMC_FREQ 2%@1866 GR3D_FREQ 37%@1300 APE 150 MTS fg 0% bg 0%"
          " BCPU@-45C MCPU@-45C GPU@-51C PLL@45C AO@47.5C Tboard@37C Tdiode@46.75C PMIC@100C"
          " thermal@46.4C VDD_IN 14025/14416 VDD_CPU 2209/2538 VDD_GPU 6854/6903 VDD_SOC 1371/1370"
          " VDD_WIFI 19/19 NVENC 716 NVDEC 716 VDD_DDR 2702/2702")
NANO = ("RAM 1180/3965MB (lfb 1x2MB) SWAP 149/1024MB (cached 7MB) IRAM 0/252kB(lfb 252kB) "
        "CPU [30%@1036,33%@1036,28%@1036,26%@1036] EMC_FREQ 10%@1600 GR3D_FREQ 0%@76 NVENC 716 "
        "NVDEC 716 APE 25 PLL@57C CPU@60.5C PMIC@100C GPU@59C AO@65C thermal@59.75C "
        "POM_5V_IN 4520/4680 POM_5V_GPU 0/0 POM_5V_CPU 1078/1205")
ORIN_JP7 = ("07-25-2026 09:08:28 RAM 20642/62817MB (lfb 1x2MB) "
            "CPU [23%@2201,10%@2201,4%@2201,14%@2201,30%@2201,18%@2201,10%@2201,10%@2201,"
            "33%@2201,7%@2201,5%@2201,27%@2201] "
            "EMC_FREQ 3%@3199 GR3D_FREQ 12%@[1300,1300] NVENC0 off NVDEC0 off NVJPG0 off NVJPG1 off "
            "VIC off OFA off NVDLA0 off NVDLA1 off PVA0_FREQ off APE 174 "
            "cpu@52.968C/52.968C soc2@48.406C/48.406C soc0@49.531C/49.531C gpu@47.625C/47.625C "
            "VDD_GPU_SOC 5139mW/5139mW/5139mW VDD_CPU_CV 3268mW/3268mW/3268mW "
            "VIN_SYS_5V0 5500mW/5500mW/5500mW")
ORIN_JP6 = ("RAM 4722/7844MB (lfb 1x512kB) EMC_FREQ 2%@1866 GR3D_FREQ 10%@1300 APE 150 "
            "VDD_IN 5012mW/5012mW VDD_CPU_GPU_CV 1204mW/1204mW VDD_SOC 1605mW/1605mW")
THOR = "RAM 4722/7844MB (lfb 1x512kB) EMC_FREQ 2%@1866 GR3D_FREQ @[1000,1000,1000] APE 150"
