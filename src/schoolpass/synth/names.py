"""Name, language and school-name pools for the synthetic district.

Groups roughly follow a large Southern California district: mostly Latino
families, with Armenian, Korean, Chinese, Vietnamese and Filipino communities.
All strings are NFC. Some names carry accents or apostrophes on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

# Race/ethnicity columns of demographics.csv, in header order:
# americanIndianOrAlaskaNative, asian, blackOrAfricanAmerican,
# nativeHawaiianOrOtherPacificIslander, white, demographicRaceTwoOrMoreRaces,
# hispanicOrLatinoEthnicity
_HISPANIC = ("", "", "", "", "", "", "true")
_WHITE = ("", "", "", "", "true", "", "")
_BLACK = ("", "", "true", "", "", "", "")
_ASIAN = ("", "true", "", "", "", "", "")
TWO_OR_MORE = ("", "", "", "", "", "true", "")


@dataclass(frozen=True)
class Group:
    key: str
    family_weight: float  # share of student families
    staff_weight: float  # share of staff
    female: tuple[str, ...]
    male: tuple[str, ...]
    family: tuple[str, ...]
    languages: tuple[tuple[str, float], ...]  # "" = not recorded
    race: tuple[str, ...]


def _t(text: str) -> tuple[str, ...]:
    return tuple(s.strip() for s in text.split(",") if s.strip())


GROUPS: tuple[Group, ...] = (
    Group(
        "hispanic", 0.68, 0.45,
        _t("María, Guadalupe, Ana, Sofía, Valentina, Camila, Ximena, Daniela, Isabella,"
           "Lucía, Mariana, Fernanda, Andrea, Alejandra, Juana, Rosa, Verónica, Yesenia,"
           "Leticia, Araceli, Esmeralda, Jocelyn, Nayeli, Itzel, Marisol, Gabriela, Karla,"
           "Brenda, Leslie, Génesis, Ángela, Mía, Renata, Dulce, Paola, Beatriz, Inés,"
           "Raquel, María José, Ana Sofía"),
        _t("José, Juan, Luis, Carlos, Jesús, Miguel, Ángel, Alejandro, Diego, Mateo,"
           "Santiago, Sebastián, Emiliano, Jorge, Francisco, Javier, Ricardo, Fernando,"
           "Eduardo, Óscar, Rubén, Héctor, Andrés, Iván, Adrián, Julián, Martín, Joaquín,"
           "Ramón, Tomás, Raúl, Efraín, Cristian, Kevin, Bryan, Brandon, Jonathan,"
           "José Luis, Juan Carlos"),
        _t("García, Rodríguez, Martínez, Hernández, López, González, Pérez, Sánchez,"
           "Ramírez, Torres, Flores, Rivera, Gómez, Díaz, Cruz, Morales, Reyes, Gutiérrez,"
           "Ortiz, Chávez, Ramos, Ruiz, Álvarez, Mendoza, Vásquez, Castillo, Jiménez,"
           "Moreno, Romero, Herrera, Medina, Aguilar, Vargas, Guzmán, Muñoz, Ñúñez, Núñez,"
           "Ibáñez, Peña, Domínguez, Salazar, Cortés, Orozco, Cervantes, Zúñiga, Avilés,"
           "Delgado, Villanueva, De la Cruz, Del Río, Ochoa, Quiñónez, Estrada, Carrillo"),
        (("es", 0.52), ("es-MX", 0.07), ("en", 0.10), ("", 0.31)),
        _HISPANIC,
    ),
    Group(
        "white", 0.09, 0.25,
        _t("Emma, Olivia, Zoë, Renée, Chloé, Hannah, Abigail, Emily, Madison, Sarah,"
           "Jessica, Ashley, Anne-Marie, Noëlle, Claire, Katherine, Elizabeth, Megan,"
           "Lauren, Siobhán, Bridget, Ingrid, Astrid, Maëlle, Nora, Grace"),
        _t("Liam, Noah, William, James, Benjamin, Lucas, Henry, Jacob, Ethan, Michael,"
           "Daniel, Matthew, Ryan, Seán, Patrick, Connor, Björn, Søren, François,"
           "Jean-Luc, André, Owen, Samuel, Nathaniel"),
        _t("Smith, Johnson, Miller, Davis, Wilson, Anderson, Taylor, Thomas, Moore,"
           "Martin, Thompson, White, Clark, Lewis, Walker, Hall, Young, O'Brien,"
           "O'Connor, McDonald, MacKenzie, Smith-Jones, Fitzgerald, Schröder, Müller,"
           "Lefèvre, Dubois, Kowalski, Novák, D'Angelo, Rossi, Van der Berg, St. John,"
           "Cohen, Goldberg, Ó Súilleabháin"),
        (("en", 0.35), ("", 0.63), ("ru", 0.02)),
        _WHITE,
    ),
    Group(
        "black", 0.08, 0.10,
        _t("Aaliyah, Imani, Nia, Jada, Kiara, Destiny, Jasmine, Zuri, Amara, Chidinma,"
           "Ngozi, Ayana, Tiana, Makayla, Keisha, Shanice, Déjà, Naomi, Ebony"),
        _t("Jamal, DeShawn, Malik, Darnell, Jalen, Marcus, Terrell, Andre, Isaiah,"
           "Jaylen, Elijah, Kwame, Chukwuemeka, Oluwaseun, Tunde, Abebe, Dawit, Xavier"),
        _t("Williams, Jackson, Harris, Robinson, Brown, Jones, Johnson, Washington,"
           "Jefferson, Okafor, Adeyemi, Okonkwo, Mensah, Bekele, Tesfaye, Haile, Banks,"
           "Coleman, Freeman, Simmons, Jean-Baptiste"),
        (("en", 0.40), ("", 0.57), ("am", 0.03)),
        _BLACK,
    ),
    Group(
        "chinese", 0.025, 0.04,
        _t("Mei, Xiu Ying, Li Na, Yan, Jing, Hui, Ying, Wen, Chloe, Grace, Yu Xuan, Xīn"),
        _t("Wei, Jun, Hao, Jian, Ming, Tao, Zhi Wei, Kai, Yu, Kevin, Andrew, Zihan"),
        _t("Wang, Li, Zhang, Liu, Chen, Yang, Huang, Zhao, Wu, Zhou, Lin, Xu, Sun, Ma,"
           "Hu, Guo, He, Gao, Luo, Zheng, Chan, Wong, Leung, Lam, Cheung, Lǚ"),
        (("zh-Hant", 0.35), ("zh-Hans", 0.05), ("en", 0.20), ("", 0.40)),
        _ASIAN,
    ),
    Group(
        "korean", 0.02, 0.04,
        _t("Ji-woo, Seo-yeon, Min-seo, Ha-eun, Soo-ah, Yuna, Jiyoung, Eun-ji, Hye-jin,"
           "Chae-won, Da-eun"),
        _t("Min-jun, Seo-jun, Do-yun, Ji-ho, Joon-young, Hyun-woo, Sung-min, Jae-won,"
           "Tae-yang, Daniel"),
        _t("Kim, Lee, Park, Choi, Jung, Kang, Cho, Yoon, Jang, Lim, Han, Oh, Shin, Seo,"
           "Kwon, Hwang, Ahn, Song, Yoo, Hong"),
        (("ko", 0.45), ("en", 0.20), ("", 0.35)),
        _ASIAN,
    ),
    Group(
        "vietnamese", 0.015, 0.02,
        _t("Thảo, Linh, Anh, Ngọc, Hương, Trang, Mai, Lan, Phương, Thủy, Vy, Hạnh"),
        _t("Minh, Huy, Khang, Bảo, Đức, Tuấn, Quang, Long, Nam, Phúc, Thành, Dũng"),
        _t("Nguyễn, Trần, Lê, Phạm, Hoàng, Huỳnh, Phan, Vũ, Võ, Đặng, Bùi, Đỗ, Hồ, Ngô,"
           "Dương, Lý, Nguyen, Tran"),
        (("vi", 0.45), ("en", 0.15), ("", 0.40)),
        _ASIAN,
    ),
    Group(
        "filipino", 0.025, 0.04,
        _t("Maricel, Rowena, Jasmine, Kristine, Angelica, Princess, Mary Grace,"
           "Ma. Teresa, Lovely, Joy, Jhoanna, Rosalinda"),
        _t("Jericho, Rodel, Mark Anthony, John Paul, Jomar, Ramil, Reynaldo, Rommel,"
           "Paolo, Carlo, Jun-Jun, Emmanuel"),
        _t("Santos, Reyes, Cruz, Bautista, Ocampo, Garcia, Mendoza, Dela Cruz, Aquino,"
           "Villanueva, Ramos, Castro, Manalo, Pascual, Soriano, Dizon, Macaraeg,"
           "Dela Peña"),
        (("tl", 0.10), ("en", 0.40), ("", 0.50)),
        _ASIAN,
    ),
    Group(
        "armenian", 0.03, 0.03,
        _t("Ani, Anahit, Lilit, Nare, Mariam, Arpi, Tatevik, Siranush, Karine, Lusine,"
           "Gayane, Nairi"),
        _t("Aram, Narek, Tigran, Hayk, Armen, Davit, Gor, Vahe, Levon, Sarkis, Raffi,"
           "Hovhannes"),
        _t("Petrosyan, Hakobyan, Sargsyan, Grigoryan, Harutyunyan, Khachatryan,"
           "Avetisyan, Karapetyan, Mkrtchyan, Ghazaryan, Vardanyan, Der-Bedrossian,"
           "Zakarian, Manukyan, Babayan, Ter-Petrosyan"),
        (("hy", 0.40), ("en", 0.15), ("ru", 0.05), ("", 0.40)),
        _WHITE,
    ),
    Group(
        "other", 0.035, 0.03,
        _t("Fatima, Leila, Shirin, Parisa, Priya, Ananya, Aisha, Noor, Yasmin, Zahra,"
           "Şule, Elif"),
        _t("Ali, Omar, Reza, Dariush, Arjun, Rohan, Mohammed, Yusuf, Karim, Amir,"
           "Emre, Çağan"),
        _t("Hosseini, Rahimi, Karimi, Ahmadi, Patel, Shah, Singh, Khan, Haddad, Nasser,"
           "Al-Amin, Abdel-Malek, Yılmaz, Öztürk"),
        (("fa", 0.15), ("ar", 0.10), ("en", 0.25), ("", 0.50)),
        _ASIAN,
    ),
)

# Contact e-mail domains: reserved example domains only.
CONTACT_DOMAINS = ("example.net", "example.com", "example.org")
STUDENT_DOMAIN = "students.example.org"
STAFF_DOMAIN = "staff.example.org"

# Fictional phone numbers (555-0100..0199 are reserved for fiction).
AREA_CODES = ("213", "323", "310", "818", "562", "626", "747")

DISTRICT_NAME = "Pacific Coast Unified School District"
DISTRICT_CODE = "PCUSD"

SCHOOL_PLACES = _t(
    "Harbor, Vista, Sunset, Olympic, Crenshaw, Los Feliz, El Sereno, Boyle Heights,"
    "Eagle Rock, Highland Park, Echo Park, Silver Lake, Canoga Park, Van Nuys, Reseda,"
    "Sylmar, Pacoima, Tujunga, Sun Valley, Encino, Tarzana, Westchester, Palms,"
    "Mar Vista, Venice, Wilmington, San Pedro, Watts, Lincoln Heights, Cypress Park,"
    "Glassell Park, Atwater, Mount Washington, Hollenbeck, Belvedere, Huntington Park,"
    "Bell, Maywood, Vernon, Gardena, Carson, Lomita, Harbor City, Leimert Park,"
    "Baldwin Hills, Hyde Park, Florence, Manchester, Normandie, Vermont, Figueroa,"
    "Alvarado, Hoover, Menlo, Budlong, Arlington Heights, Mid-City, Pico, Rampart,"
    "Pío Pico, Cañada, Arroyo Seco, Las Palmas, La Cienega, Los Ángeles, Valle Verde,"
    "Sierra Vista, Mesa Linda, Riverside Drive, Topanga, Chatsworth, Granada Hills,"
    "Porter Ranch, Northridge, Winnetka, Panorama City, Arleta, Lake Balboa, Sepulveda,"
    "Studio City, Toluca Lake, Valley Glen, Sherman Oaks, Brentwood, Palisades, Cheviot Hills")
SCHOOL_PEOPLE = _t(
    "César Chávez, Dolores Huerta, Sally Ride, Thurgood Marshall, Maya Angelou,"
    "Rubén Salazar, Sonia Sotomayor, Frida Kahlo, Amelia Earhart, Rosa Parks,"
    "Mary McLeod Bethune, George Washington Carver, Mendez, Ellen Ochoa, Tom Bradley,"
    "Gabriela Mistral, Jackie Robinson, Ralph Bunche, Daniel Inouye, Sojourner Truth,"
    "Harriet Tubman, John Muir, Luther Burbank, Anne Frank, Octavia Butler, Carlos Santana,"
    "Ritchie Valens, Bernardo O'Higgins, Fred Korematsu, Larry Itliong, Mark Twain,"
    "Walt Whitman, Emily Dickinson, Louis Armstrong, Duke Ellington, Albert Einstein,"
    "Marie Curie, Grace Hopper, Katherine Johnson, Jaime Escalante, Sal Castro,"
    "Gloria Molina, Bert Corona, Antonia Novello, José Martí, Benito Juárez")
