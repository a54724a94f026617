# nvskit.cmake: build NVS partition images with nvskit in an ESP-IDF project.
#
# The counterpart of ESP-IDF's nvs_create_partition_image() (components/nvs_flash/
# project_include.cmake), with encryption, which ESP-IDF's lacks, and without Python. Include it
# from the project's top-level CMakeLists.txt, after project():
#
#   include($ENV{IDF_PATH}/tools/cmake/project.cmake)
#   project(my_app)
#   include(path/to/nvskit.cmake)
#   nvskit_create_partition_image(nvs nvs.csv FLASH_IN_PROJECT)
#   nvskit_create_partition_image(fctry factory/dev.csv ENCRYPT factory/keys/dev_keys.bin
#                                 DEPENDS factory/dev_cert.pem)
#
# nvskit_create_partition_image(PARTITION CSV
#     [FLASH_IN_PROJECT]       also write the image (and keys) with "idf.py flash"
#     [ENCRYPT KEYS]           encrypt with this keys file (nvskit encrypt --inputkey KEYS)
#     [KEYS_PARTITION NAME]    where the keys file goes when flashed (default: nvs_keys)
#     [VERSION 1|2]            NVS format version (default 2)
#     [BASE_DIR DIR]           file rows of the CSV are relative to DIR (default: the project dir)
#     [DEPENDS files...])      rebuild the image when these change (e.g. files the CSV names)
#
# Size and offset come from the project's partition table (partition_table_get_partition_info).
# It creates:
#   - ${CMAKE_BINARY_DIR}/PARTITION.bin, built with the project (target nvs_PARTITION_bin);
#   - target PARTITION-flash: "idf.py PARTITION-flash" writes the image (and the keys file when
#     ENCRYPT is given) at the partitions' offsets;
#   - with FLASH_IN_PROJECT, the same images in "idf.py flash".
#
# nvskit is looked up as the cache variable NVSKIT_EXECUTABLE, then on PATH, then in
# $GOPATH/bin and ~/go/bin. Install it from a release (Homebrew, Scoop, a .deb or .rpm, or an
# archive) or with "go install github.com/nvskit/nvskit/cmd/nvskit@latest"; when it is missing,
# the build fails with the one command for this machine.
#
# Keys: a keys file is a secret the device needs forever; the build never creates one. Make it
# once with "nvskit generate-key --keyfile NAME --outdir DIR" (it lands in DIR/keys/NAME). The
# nvs_keys partition must be marked "encrypted" in the partition table, and flash encryption
# must be enabled for the device to protect it.

include_guard(GLOBAL)

# _nvskit_install_command sets out to the one command that installs nvskit on a host of the
# given system (CMAKE_HOST_SYSTEM_NAME: Linux, Darwin, Windows) and machine (uname -m), with
# etc the folder holding debian_version / redhat-release / fedora-release ("/etc"); "" when no
# release build fits (then go install is the way).
function(_nvskit_install_command out system machine etc)
    set(releases "https://github.com/nvskit/nvskit/releases/latest/download/")
    string(TOLOWER "${machine}" machine)
    set(arch "")
    if(machine MATCHES "^(x86_64|amd64)$")
        set(arch amd64)
    elseif(machine MATCHES "^(aarch64|arm64|armv8l)$")
        set(arch arm64)
    elseif(machine MATCHES "^armv7")
        set(arch armv7)
    endif()
    set(cmd "")
    if(system STREQUAL "Darwin")
        set(cmd "brew install --cask nvskit/tap/nvskit")
    elseif(system STREQUAL "Windows")
        set(cmd "scoop bucket add nvskit https://github.com/nvskit/scoop-bucket, then scoop install nvskit/nvskit")
    elseif(system STREQUAL "Linux" AND arch)
        if(EXISTS "${etc}/debian_version")
            set(cmd "curl -fsSLO ${releases}nvskit_linux_${arch}.deb && sudo apt install ./nvskit_linux_${arch}.deb")
        elseif(EXISTS "${etc}/redhat-release" OR EXISTS "${etc}/fedora-release")
            set(cmd "sudo dnf install ${releases}nvskit_linux_${arch}.rpm")
        else()
            set(cmd "curl -fsSL ${releases}nvskit_linux_${arch}.tar.gz | tar xz && sudo install nvskit_linux_${arch}/nvskit /usr/local/bin/")
        endif()
    endif()
    set(${out} "${cmd}" PARENT_SCOPE)
endfunction()

# _nvskit_install_hint sets out to the lines of the message for a missing nvskit: the command
# for this host, go install, and NVSKIT_EXECUTABLE.
function(_nvskit_install_hint out)
    set(machine "${CMAKE_HOST_SYSTEM_PROCESSOR}")
    if(NOT machine AND CMAKE_HOST_UNIX)
        execute_process(COMMAND uname -m OUTPUT_VARIABLE machine OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    elseif(NOT machine AND CMAKE_HOST_WIN32)
        set(machine "$ENV{PROCESSOR_ARCHITECTURE}")
    endif()
    _nvskit_install_command(cmd "${CMAKE_HOST_SYSTEM_NAME}" "${machine}" "/etc")
    set(go "go install github.com/nvskit/nvskit/cmd/nvskit@latest")
    if(cmd)
        set(lines "nvskit was not found. Install it with: ${cmd}" "(or, with Go installed: ${go}; or set -DNVSKIT_EXECUTABLE=/path/to/nvskit)")
    else()
        set(lines "nvskit was not found. Install it with: ${go}" "(or set -DNVSKIT_EXECUTABLE=/path/to/nvskit)")
    endif()
    set(${out} "${lines}" PARENT_SCOPE)
endfunction()

# _nvskit_find sets NVSKIT_EXECUTABLE (cache) to the nvskit binary, or to NVSKIT_EXECUTABLE-NOTFOUND.
function(_nvskit_find)
    set(hints "")
    if(DEFINED ENV{GOPATH})
        list(APPEND hints "$ENV{GOPATH}/bin")
    endif()
    if(DEFINED ENV{HOME})
        list(APPEND hints "$ENV{HOME}/go/bin")
    endif()
    if(DEFINED ENV{USERPROFILE})
        list(APPEND hints "$ENV{USERPROFILE}/go/bin")
    endif()
    find_program(NVSKIT_EXECUTABLE NAMES nvskit HINTS ${hints} DOC "The nvskit binary")
endfunction()

function(nvskit_create_partition_image partition csv)
    set(options FLASH_IN_PROJECT)
    set(one_value ENCRYPT KEYS_PARTITION VERSION BASE_DIR)
    set(multi_value DEPENDS)
    cmake_parse_arguments(arg "${options}" "${one_value}" "${multi_value}" ${ARGN})
    if(arg_UNPARSED_ARGUMENTS)
        message(FATAL_ERROR "nvskit_create_partition_image(${partition}): unknown arguments: "
                            "${arg_UNPARSED_ARGUMENTS}")
    endif()
    if(NOT DEFINED arg_VERSION)
        set(arg_VERSION 2)
    endif()
    if(NOT arg_VERSION MATCHES "^[12]$")
        message(FATAL_ERROR "nvskit_create_partition_image(${partition}): VERSION ${arg_VERSION}: use 1 or 2")
    endif()
    if(NOT DEFINED arg_KEYS_PARTITION)
        set(arg_KEYS_PARTITION nvs_keys)
    endif()
    idf_build_get_property(project_dir PROJECT_DIR)
    if(NOT DEFINED arg_BASE_DIR)
        set(arg_BASE_DIR "${project_dir}")
    endif()
    get_filename_component(base_dir "${arg_BASE_DIR}" ABSOLUTE BASE_DIR "${project_dir}")
    get_filename_component(csv_full_path "${csv}" ABSOLUTE BASE_DIR "${project_dir}")
    set(target nvs_${partition}_bin)
    set(image_file "${CMAKE_BINARY_DIR}/${partition}.bin")

    _nvskit_find()
    if(NOT NVSKIT_EXECUTABLE)
        _nvskit_install_hint(hint)
        fail_at_build_time(${target} ${hint})
        return()
    endif()

    partition_table_get_partition_info(size "--partition-name ${partition}" "size")
    partition_table_get_partition_info(offset "--partition-name ${partition}" "offset")
    if(NOT size OR NOT offset)
        fail_at_build_time(${target}
            "Failed to create NVS image for partition '${partition}': no such partition in the "
            "partition table. Check CONFIG_PARTITION_TABLE_CUSTOM_FILENAME.")
        return()
    endif()

    set(depends ${arg_DEPENDS})
    if(DEFINED arg_ENCRYPT)
        get_filename_component(keys_file "${arg_ENCRYPT}" ABSOLUTE BASE_DIR "${project_dir}")
        if(NOT EXISTS "${keys_file}")
            get_filename_component(keys_name "${keys_file}" NAME)
            fail_at_build_time(${target}
                "nvskit_create_partition_image(${partition}): keys file ${keys_file} does not exist. "
                "Make it once, and keep it, with: nvskit generate-key --keyfile ${keys_name} --outdir DIR "
                "(writes DIR/keys/${keys_name})")
            return()
        endif()
        set(command "${NVSKIT_EXECUTABLE}" encrypt "${csv_full_path}" "${image_file}" ${size}
                    --inputkey "${keys_file}")
        list(APPEND depends "${keys_file}")
        set(what "encrypted NVS partition image")
    else()
        set(command "${NVSKIT_EXECUTABLE}" generate "${csv_full_path}" "${image_file}" ${size})
        set(what "NVS partition image")
    endif()
    # The image is the build's own output: every build replaces the one before (nvskit replaces
    # no existing file without --force).
    list(APPEND command --version ${arg_VERSION} --base-dir "${base_dir}" --force)

    add_custom_command(OUTPUT "${image_file}"
        COMMAND ${command}
        MAIN_DEPENDENCY "${csv_full_path}"
        DEPENDS ${depends}
        WORKING_DIRECTORY "${project_dir}"
        COMMENT "Generating ${what} for partition ${partition} with nvskit"
        VERBATIM)
    add_custom_target(${target} ALL DEPENDS "${image_file}")
    set_property(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" APPEND PROPERTY ADDITIONAL_CLEAN_FILES "${image_file}")

    # idf.py PARTITION-flash, and optionally idf.py flash, as ESP-IDF's own helper does.
    idf_component_get_property(main_args esptool_py FLASH_ARGS)
    idf_component_get_property(sub_args esptool_py FLASH_SUB_ARGS)
    esptool_py_flash_target(${partition}-flash "${main_args}" "${sub_args}")
    esptool_py_flash_to_partition(${partition}-flash "${partition}" "${image_file}")
    if(DEFINED arg_ENCRYPT)
        # The keys partition is marked encrypted: esptool_py_flash_to_partition writes it
        # encrypted when flash encryption is enabled in the project configuration.
        esptool_py_flash_to_partition(${partition}-flash "${arg_KEYS_PARTITION}" "${keys_file}")
    endif()
    add_dependencies(${partition}-flash ${target})
    if(arg_FLASH_IN_PROJECT)
        esptool_py_flash_to_partition(flash "${partition}" "${image_file}")
        if(DEFINED arg_ENCRYPT)
            esptool_py_flash_to_partition(flash "${arg_KEYS_PARTITION}" "${keys_file}")
        endif()
        add_dependencies(flash ${target})
    endif()
endfunction()
